"""The layers pages: a project's layers (its slides, their uploaded layers, uploads of one file
or a zip), a slide's upload page, a layer's page (its classes, mapped to labels there) and the
confirmation of a deletion.

They work without scripts: plain forms posting to these views, which call the services the API
calls (layers.services). The project and upload pages are their uploaders' own (the project's
managers and ML specialists, layers.permissions.uploader_projects): anyone else gets a 404, as
for a project that does not exist. A layer's page follows layers.permissions.get_layer_for_user.
"""

from collections import defaultdict

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.models import Job
from layers import selectors, services
from layers.forms import ClassMappingForm, LayerUploadForm, LayerZipForm
from layers.models import Layer
from layers.permissions import (
    get_layer_for_user,
    get_project_for_uploader,
    get_slide_for_uploader,
    may_upload,
)
from slides.models import Slide
from slides.selectors import slide_list_for_user
from tasks.models import Project
from wsi2ml.api import ApiError

SLIDES_PER_PAGE = 25
# Layers listed on one page of slides: a model run per slide and a few reruns is ten or so;
# the cap keeps a page's cost bounded whatever was uploaded.
MAX_LAYERS_SHOWN = 500
ZIP_PREFIX = "zip"  # the zip form's fields, on the page beside the single file's


@require_GET
def project_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """The project's slides with their uploaded layers, and the two upload forms."""
    project = get_project_for_uploader(request.user, project_id)
    return _project_render(request, project)


@require_POST
def project_upload(request: HttpRequest, project_id: int) -> HttpResponse:
    """Upload one file for a slide of the project chosen in the form."""
    project = get_project_for_uploader(request.user, project_id)
    form = LayerUploadForm(request.POST, request.FILES, slides=_project_slides(project))
    layer = form.is_valid() and _upload(
        form, slide=form.cleaned_data["slide"], project=project, actor=request.user
    )
    if not layer:
        return _project_render(request, project, upload_form=form, status=400)
    _announce(request, layer)
    page = _page_of(project, layer.slide)
    url = reverse("layers:project_page", args=[project.pk])
    return redirect(f"{url}?page={page}#layer-{layer.pk}")


@require_POST
def project_upload_zip(request: HttpRequest, project_id: int) -> HttpResponse:
    """Upload a zip of per-slide files; the page answering says which file went to which slide
    and which matched none (it is the upload's report, so it is not a redirect)."""
    project = get_project_for_uploader(request.user, project_id)
    form, result = LayerZipForm(request.POST, request.FILES, prefix=ZIP_PREFIX), None
    if form.is_valid():
        try:
            with transaction.atomic():
                layers, unmatched = services.layers_upload_zip(
                    project=project,
                    upload=form.cleaned_data["file"],
                    **form.import_arguments(rename=False),
                    actor=request.user,
                )
            result = {"layers": layers, "unmatched": unmatched}
        except ApiError as exc:
            form.refuse(exc.message)
    status = 200 if result else 400
    return _project_render(request, project, zip_form=form, zip_result=result, status=status)


@require_http_methods(["GET", "POST"])
def slide_upload(request: HttpRequest, slide_id: int) -> HttpResponse:
    """Upload one file for the slide, then go to the new layer's page."""
    slide, projects = get_slide_for_uploader(request.user, slide_id)
    if request.method == "GET":
        form = LayerUploadForm(projects=projects)
        return render(request, "layers/slide_upload.html", {"slide": slide, "form": form})
    form = LayerUploadForm(request.POST, request.FILES, projects=projects)
    layer = form.is_valid() and _upload(
        form,
        slide=slide,
        project=form.cleaned_data.get("project") or projects[0],
        actor=request.user,
    )
    if not layer:
        context = {"slide": slide, "form": form}
        return render(request, "layers/slide_upload.html", context, status=400)
    _announce(request, layer)
    return redirect("layers:layer_page", layer.pk)


@require_http_methods(["GET", "POST"])
def layer_page(request: HttpRequest, layer_id: int) -> HttpResponse:
    """The layer, its state and its classes; its uploaders map unmapped classes to labels."""
    layer = get_layer_for_user(request.user, layer_id, write=request.method == "POST")
    form = None
    if may_upload(request.user, layer.project):
        labels = list(layer.project.labels.active())
        data = request.POST if request.method == "POST" else None
        form = ClassMappingForm(data, layer=layer, labels=labels)
    if form is not None and form.is_bound and form.is_valid():
        try:
            services.layer_classes_map(layer=layer, mapping=form.mapping(), actor=request.user)
        except ApiError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"The classes of “{layer.name}” are mapped.")
            return redirect("layers:layer_page", layer.pk)
    status = 400 if form is not None and form.is_bound else 200
    return render(request, "layers/layer.html", _layer_context(request, layer, form), status=status)


@require_http_methods(["GET", "POST"])
def layer_delete(request: HttpRequest, layer_id: int) -> HttpResponse:
    """Ask to confirm; on the confirmation's POST, delete the layer and its features."""
    layer = get_layer_for_user(request.user, layer_id, write=True)
    if request.method == "GET":
        return render(request, "layers/layer_delete.html", {"layer": layer})
    services.layer_delete(layer=layer)
    messages.success(
        request, f"Layer “{layer.name}” deleted, with its {layer.feature_count:,} features."
    )
    return redirect("layers:project_page", layer.project_id)


# --- Access ----------------------------------------------------------------------------------


# --- Uploading -------------------------------------------------------------------------------


def _upload(form: LayerUploadForm, *, slide: Slide, project: Project, actor) -> Layer | None:
    """The layer uploaded as the form says; None, with the refusal on the form, for a file the
    services refuse (nothing is stored then)."""
    try:
        with transaction.atomic():
            return services.layer_upload(
                slide=slide, project=project, actor=actor, **form.upload_arguments()
            )
    except ApiError as exc:
        form.refuse(exc.message)
        return None


def _announce(request: HttpRequest, layer: Layer) -> None:
    if layer.state != Layer.State.READY:
        messages.info(
            request,
            f"“{layer.name}” is being imported in the background; its state follows on reload.",
        )
        return
    unmapped = sum(1 for c in layer.classes if c["label"] is None and c["name"])
    text = f"“{layer.name}” uploaded: {layer.feature_count:,} features, ready."
    if unmapped:
        text += f" {unmapped} of its classes have no label yet: map them on the layer's page."
    messages.success(request, text)


# --- Reading for the pages -------------------------------------------------------------------


def _project_slides(project: Project):
    slides = Slide.objects.filter(task_slides__task__project=project).distinct()
    return slides.order_by("name", "pk")


def _page_of(project: Project, slide: Slide) -> int:
    """The page of the project page that lists ``slide``."""
    before = _project_slides(project).filter(name__lt=slide.name).count()
    return before // SLIDES_PER_PAGE + 1


def _project_render(
    request: HttpRequest,
    project: Project,
    *,
    upload_form: LayerUploadForm | None = None,
    zip_form: LayerZipForm | None = None,
    zip_result: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    slides = _project_slides(project)
    page = Paginator(slides, SLIDES_PER_PAGE).get_page(request.GET.get("page"))
    rows, truncated = _slide_rows(request.user, project, list(page))
    context = {
        "project": project,
        "page": page,
        "rows": rows,
        "truncated": truncated,
        "upload_form": upload_form or LayerUploadForm(slides=slides),
        "zip_form": zip_form or LayerZipForm(prefix=ZIP_PREFIX),
        "zip_result": zip_result,
    }
    return render(request, "layers/project.html", context, status=status)


def _slide_rows(user, project: Project, slides: list[Slide]) -> tuple[list[dict], bool]:
    """Each slide with its layers of the project (their state as the API says it) and whether
    ``user`` may open it in the viewer; and whether layers were left out (MAX_LAYERS_SHOWN)."""
    layers = list(
        Layer.objects.filter(project=project, slide__in=slides)
        .select_related("uploaded_by")
        .order_by("slide", "created_at", "pk")[: MAX_LAYERS_SHOWN + 1]
    )
    jobs = Job.objects.filter(pk__in=[layer.job_id for layer in layers if layer.job_id])
    jobs = {job.pk: job for job in jobs}
    viewable = set(
        slide_list_for_user(user=user)
        .filter(pk__in=[slide.pk for slide in slides])
        .values_list("pk", flat=True)
    )
    by_slide = defaultdict(list)
    for layer in layers[:MAX_LAYERS_SHOWN]:
        status = selectors.layer_json(layer, job=jobs.get(layer.job_id))
        by_slide[layer.slide_id].append({"layer": layer, "status": status})
    rows = [
        {"slide": slide, "layers": by_slide[slide.pk], "viewable": slide.pk in viewable}
        for slide in slides
    ]
    return rows, len(layers) > MAX_LAYERS_SHOWN


def _layer_context(request: HttpRequest, layer: Layer, form: ClassMappingForm | None) -> dict:
    labels = {label.pk: label for label in layer.project.labels.all()}
    fields = {name: field for field, name in form.names.items()} if form else {}
    classes = [
        {
            "entry": entry,
            "label": labels.get(entry.get("label")),
            "field": form[fields[entry["name"]]] if entry["name"] in fields else None,
        }
        for entry in layer.classes
    ]
    viewable = slide_list_for_user(user=request.user).filter(pk=layer.slide_id).exists()
    return {
        "layer": layer,
        "status": selectors.layer_json(layer, job=selectors.layer_job(layer)),
        "classes": classes,
        "form": form,
        "may_upload": form is not None,
        "ready": layer.state == Layer.State.READY,
        "viewable": viewable,
    }

"""The layers API: the slide's layers (human and uploaded), uploads, a layer's features, its
comparison with people's annotations, and a feature taken into one's own annotations.

On wsi2ml.api's plumbing. Uploads are multipart (``file``) and take an API token as well as a
session (with its CSRF check): scripts upload a model's output. See README.md (Model layers).
"""

from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict

from annotations.api_views import bbox_param
from annotations.permissions import assignments_visible_to
from annotations.selectors import annotation_feature
from layers import metrics, selectors, services
from layers.models import Layer, LayerFeature
from layers.permissions import (
    get_layer_for_user,
    get_project_for_upload,
    get_slide_for_layers,
    project_for_slide_upload,
    reference_assignments,
)
from review.agreement import AgreementTooLarge
from tasks.models import Label, Project
from wsi2ml.api import (
    ApiError,
    api,
    float_param,
    int_param,
    json_body,
    json_object,
    lookup,
    parse_id,
)

MAP_PREFIX = "map."  # map.<class name> = <label id> | create | none
NAME_MAX = Layer._meta.get_field("name").max_length
SCORE_MAX = Layer._meta.get_field("score_name").max_length


@api("GET", "POST", token_writes=True, multipart=True)
def slide_layers(request: HttpRequest, slide_id: int) -> HttpResponse:
    """GET: the layers the person sees on the slide; POST: upload one (multipart ``file``)."""
    slide = get_slide_for_layers(request.user, slide_id)
    if request.method == "POST":
        project = project_for_slide_upload(request.user, slide, request.POST.get("project"))
        upload = _file(request)
        name = request.POST.get("name", "").strip()
        with transaction.atomic():
            layer = services.layer_upload(
                slide=slide,
                project=project,
                upload=upload,
                name=_text(name or PurePosixPath(upload.name).stem, "name", NAME_MAX),
                **_choices(request.POST, project, rename=not name),
                actor=request.user,
            )
        answer = selectors.layer_json(layer, job=selectors.layer_job(layer))
        return JsonResponse({"layer": answer}, status=201)
    return JsonResponse({"layers": selectors.slide_layers(user=request.user, slide=slide)})


@api("POST", token_writes=True, multipart=True)
def project_layers(request: HttpRequest, project_id: int) -> HttpResponse:
    """Upload a zip of per-slide files: one layer per file that names a slide of the project."""
    project = get_project_for_upload(request.user, project_id)
    upload = _file(request)
    with transaction.atomic():
        layers, unmatched = services.layers_upload_zip(
            project=project,
            upload=upload,
            **_choices(request.POST, project, rename=False),
            actor=request.user,
        )
    answer = [selectors.layer_json(layer, job=selectors.layer_job(layer)) for layer in layers]
    return JsonResponse({"layers": answer, "unmatched": unmatched}, status=201)


@api("GET", "PATCH", "DELETE", token_writes=True)
def layer(request: HttpRequest, layer_id: int) -> HttpResponse:
    """GET: one layer, with its import's state; PATCH ``{"classes": {name: label id, "create"
    or "none"}}``: map its classes to labels; DELETE: delete it and its features."""
    found = get_layer_for_user(request.user, layer_id, write=request.method != "GET")
    if request.method == "DELETE":
        services.layer_delete(layer=found)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        mapping = _classes_body(json_object(json_body(request), "body"))
        found = services.layer_classes_map(layer=found, mapping=mapping, actor=request.user)
    return JsonResponse({"layer": selectors.layer_json(found, job=selectors.layer_job(found))})


@api("GET")
def layer_features(request: HttpRequest, layer_id: int) -> HttpResponse:
    """The layer's features in ``bbox`` (the whole slide without it), or their reduced form."""
    found = get_layer_for_user(request.user, layer_id)
    bbox = bbox_param(request.GET.get("bbox"), found.slide)
    default = str(selectors.DEFAULT_LIMIT)
    limit = int_param(request.GET.get("limit", default), "limit", 1, selectors.MAX_LIMIT)
    viewport = selectors.layer_features_in_box(layer=found, bbox=bbox, limit=limit)
    return HttpResponse(viewport.to_json(), content_type="application/json")


@api("GET")
def layer_feature(request: HttpRequest, layer_id: int, feature_id: int) -> HttpResponse:
    """One feature of the layer, as the features in a box give it (a false positive stepped to
    where the viewer has not loaded it)."""
    found = get_layer_for_user(request.user, layer_id)
    feature = LayerFeature.objects.filter(layer=found, pk=feature_id).first()
    if feature is None:
        raise Http404("No such feature.")
    return JsonResponse(selectors.layer_feature(feature, selectors.class_colours(found)))


@api("GET")
def layer_metrics(request: HttpRequest, layer_id: int) -> HttpResponse:
    """The layer against people's annotations on its slide (``assignments`` ids, or a ``task``'s
    annotators pooled), per label: Dice, IoU, precision, recall, F1, false positives and
    negatives; ``iou`` (default 0.5), ``radius_um`` (points, default 5) and ``min_score``."""
    found = get_layer_for_user(request.user, layer_id)
    query = request.GET
    reference = reference_assignments(
        request.user, found, assignments=query.get("assignments"), task=query.get("task")
    )
    iou = _number(query, "iou", metrics.IOU_THRESHOLD, low=0.01, high=1)
    radius = _number(query, "radius_um", metrics.POINT_RADIUS_UM, low=0.01, high=1000)
    min_score = _number(query, "min_score", None)
    try:
        result = metrics.layer_metrics(
            layer=found,
            reference=reference,
            iou_threshold=iou,
            point_radius_um=radius,
            min_score=min_score,
        )
    except AgreementTooLarge as exc:
        raise ApiError(str(exc), status=413) from None
    return JsonResponse(
        {
            "layer": found.pk,
            "reference": [a.pk for a in reference],
            "labels": [row.as_json() for row in result.labels],
            "total": result.total.as_json(),
            "unmapped": result.unmapped,
        }
    )


def _number(query: QueryDict, field: str, default, *, low=-1e12, high=1e12) -> float | None:
    raw = query.get(field, "")
    return default if raw == "" else float_param(raw, field, low, high)


# --- Reading the upload ------------------------------------------------------------------------


def _file(request: HttpRequest) -> UploadedFile:
    upload = request.FILES.get("file")
    if upload is None:
        raise ApiError("Send the file as the multipart field “file”.", field="file")
    limit = settings.LAYER_UPLOAD_MAX_MB
    if upload.size > limit * 1024 * 1024:
        message = f"The file is {upload.size / 2**20:,.0f} MB; at most {limit:,} MB are taken."
        raise ApiError(message, status=413, field="file")
    return upload


def _choices(form: QueryDict, project: Project, *, rename: bool) -> dict:
    """The upload's kind, score measurement and import options, checked."""
    kind = form.get("kind", Layer.Kind.PREDICTIONS)
    if kind not in Layer.Kind.values:
        raise ApiError(f"kind must be one of {', '.join(Layer.Kind.values)}.", field="kind")
    create_missing = form.get("create_missing", "0")
    if create_missing not in ("0", "1"):
        raise ApiError("create_missing must be 0 or 1.", field="create_missing")
    options = services.ImportOptions(
        classes=_class_mapping(form, project), create_missing=create_missing == "1", rename=rename
    )
    score = _text(form.get("score", "").strip(), "score", SCORE_MAX)
    return {"kind": kind, "score_name": score, "options": options}


def _class_mapping(form: QueryDict, project: Project) -> dict[str, int | str]:
    mapping: dict[str, int | str] = {}
    labels = set(Label.objects.filter(project=project).values_list("pk", flat=True))
    for key, value in form.items():
        if not key.startswith(MAP_PREFIX):
            continue
        name = key.removeprefix(MAP_PREFIX)
        if value in (services.CREATE, services.KEEP):
            mapping[name] = value
            continue
        label_id = int_param(value, key) if value.isdigit() else None
        if label_id not in labels:
            raise ApiError(
                f"{key} must be the id of one of the project's labels, “create” or “none”.",
                field=key,
            )
        mapping[name] = label_id
    return mapping


def _classes_body(body: dict) -> dict[str, int | str]:
    """The PATCH body's ``classes``: each class name to a label id, "create" or "none" (the
    service checks that they are the layer's classes and the project's labels)."""
    if set(body) != {"classes"}:
        raise ApiError('Send {"classes": {"<class>": <label id>, "create" or "none"}}.')
    classes = json_object(body["classes"], "classes")
    for name, value in classes.items():
        if value not in (services.CREATE, services.KEEP):
            parse_id(value, f"classes.{name[:200]}")
    return classes


def _text(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise ApiError(f"{field} is {len(value)} characters long; keep it to {limit}.", field=field)
    return value


# --- Promoting a feature ----------------------------------------------------------------------


@api("POST")
def feature_promote(request: HttpRequest, layer_id: int, feature_id: int) -> HttpResponse:
    """Take one feature of the layer into one's own assignment as an editable annotation:
    body ``{"assignment": id, "label": id (optional: the class's mapped label)}``."""
    found = get_layer_for_user(request.user, layer_id)
    feature = found.features.select_related("label").filter(pk=feature_id).first()
    if feature is None:
        raise Http404("No such feature.")
    body = json_object(json_body(request), "The body")
    visible = assignments_visible_to(request.user, found.slide)
    assignment = lookup(visible, body.get("assignment"), "assignment")
    label = None
    if body.get("label") is not None:
        labels = Label.objects.filter(project_id=assignment.task.project_id)
        label = lookup(labels, body["label"], "label")
    annotation, created = services.feature_promote(
        feature=feature, assignment=assignment, actor=request.user, label=label
    )
    return JsonResponse(annotation_feature(annotation), status=201 if created else 200)

"""The export pages: the projects a person may export, and one project's export page (options,
a preview of what they export, the download, the export history).

The page's form uses the API's own option names, so that what it sends, the preview it asks
for and the zip it links to are one query string; the server renders a first preview, so the
page is useful without scripts, and exports/export_page.js keeps it current as options change.
"""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from exports import selectors
from exports.models import Export
from exports.options import CLASS_PREFIX, ID_LISTS, options_parse
from exports.permissions import get_project_for_export
from exports.policy import POLICY_TEXT
from tasks.models import Project
from wsi2ml.api import ApiError

HISTORY_SHOWN = 20

# The review policies as the page explains them (exports/policy.py holds what they do).
POLICIES = {
    "all": ("All annotations", "Every annotation, whatever reviewers said of it."),
    "reviewed": ("Reviewed only", "Only annotations with at least one reviewer's verdict."),
    "not_rejected": (
        "Not rejected",
        "Leaves out annotations a reviewer rejected; unreviewed ones stay.",
    ),
    "consensus": (
        "Consensus",
        "Reviewed, not rejected, and not a tie between labels; exported under the label most"
        " reviewers gave.",
    ),
}
# The options the form shows a refusal beside (with each class_<label id>); a refusal of any
# other parameter shows above the form.
FIELDS_SHOWN = (*ID_LISTS, "include_in_progress", "policy", "min_agreement", "mask_mpp")
# Why the policy left an annotation out (exports.policy.DROP_REASONS), in the preview's words.
DROP_WORDS = {
    "unreviewed": "not reviewed",
    "rejected": "rejected by a reviewer",
    "tie": "reviewers' labels tied",
    "below_agreement": "agreement below the threshold",
    "label_filtered": "label not chosen",
}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The projects the user may export, with their counts."""
    projects = selectors.exportable_projects_summary(request.user)
    return render(request, "exports/home.html", {"export_projects": projects})


@require_GET
def project(request: HttpRequest, project_id: int) -> HttpResponse:
    """One project's export page for the options of the query string (the API's own); options
    it refuses are shown with the message, answered 400."""
    project = get_project_for_export(request.user, project_id)
    choices = selectors.export_choices(project=project)
    try:
        options = options_parse(project=project, query=request.GET)
        preview, error = selectors.export_preview(options=options), None
    except ApiError as exc:
        options, preview, error = None, None, exc
    zip_url = reverse("exports_api:project_zip", args=[project.pk])
    zip_url = _with_query(zip_url, options.query_string() if options else "")
    context = {
        "project": project,
        "form": _form(request.GET, choices, error),
        "preview": preview,
        "dropped": _dropped(preview),
        "error": error,
        "zip_url": zip_url,
        "zip_absolute_url": request.build_absolute_uri(zip_url),
        "history": _history(project, choices),
        "export_config": _config(project),
    }
    return render(request, "exports/project.html", context, status=error.status if error else 200)


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def _form(query: QueryDict, choices: dict, error: ApiError | None) -> dict:
    """What the form shows: the query as sent (also when refused), each choice ticked or not,
    and the refusal's message beside the field it names."""
    chosen = {
        name: {part.strip() for raw in query.getlist(name) for part in raw.split(",")}
        for name in ID_LISTS
    }
    field = error.field if error else ""
    form = {
        name: [
            {"id": pk, "name": text, "detail": detail, "checked": str(pk) in chosen[name]}
            for pk, text, detail in choices[name]
        ]
        for name in ID_LISTS
    }
    for item in form["labels"]:
        item["class_field"] = f"{CLASS_PREFIX}{item['id']}"
        item["class_name"] = query.get(item["class_field"], "")
        item["error"] = error.message if field == item["class_field"] else ""
    return {
        **form,
        "include_in_progress": query.get("include_in_progress") == "1",
        "policy": query.get("policy") or "all",
        "policies": [(value, *words) for value, words in POLICIES.items()],
        "min_agreement": query.get("min_agreement", ""),
        "apply_corrections": query.get("apply_corrections") == "1",
        "mask_mpp": query.get("mask_mpp", ""),
        "errors": {field: error.message} if error else {},
        "field_shown": field in FIELDS_SHOWN or field.startswith(CLASS_PREFIX),
    }


def _history(project: Project, choices: dict) -> list[dict]:
    """The project's newest exports, their options in words and the link that repeats each."""
    url = reverse("exports_api:project_zip", args=[project.pk])
    names = {name: {pk: text for pk, text, _ in items} for name, items in choices.items()}
    records = Export.objects.history(project)[:HISTORY_SHOWN]
    return [
        {
            "export": record,
            "words": _in_words(record.parameters, names),
            "features": (record.counts or {}).get("features"),
            "download_url": _with_query(url, urlencode(record.parameters)),
        }
        for record in records
    ]


def _in_words(parameters: dict, names: dict) -> list[str]:
    """Stored export parameters (ExportOptions.query()) as short phrases, ids as names."""

    def listed(name: str, every: str) -> str:
        ids = [int(part) for part in parameters.get(name, "").split(",") if part.isdigit()]
        if not ids:
            return every
        return ", ".join(names[name].get(pk, f"#{pk}") for pk in ids)

    words = [
        listed("tasks", "all tasks"),
        listed("slides", "all slides"),
        listed("labels", "all labels"),
        listed("annotators", "everyone's work"),
        "work in progress too"
        if parameters.get("include_in_progress") == "1"
        else "completed work",
        POLICY_TEXT.get(parameters.get("policy", "all"), parameters.get("policy", "")),
    ]
    if "min_agreement" in parameters:
        words.append(f"agreement ≥ {parameters['min_agreement']}")
    if parameters.get("apply_corrections") == "1":
        words.append("reviewers' corrections applied")
    for key, value in parameters.items():
        if key.startswith(CLASS_PREFIX) and key[len(CLASS_PREFIX) :].isdigit():
            pk = int(key[len(CLASS_PREFIX) :])
            words.append(f"{names['labels'].get(pk, f'#{pk}')} → {value}")
    if "mask_mpp" in parameters:
        words.append(f"masks at {parameters['mask_mpp']} µm/px")
    return words


def _dropped(preview: dict | None) -> list[tuple[str, str, int]]:
    """The preview's annotations left out, as (reason, words, count), for reasons that left any."""
    dropped = preview["dropped"] if preview else {}
    return [
        (reason, words, dropped[reason])
        for reason, words in DROP_WORDS.items()
        if dropped.get(reason)
    ]


def _config(project: Project) -> dict:
    """What exports/export_page.js needs: the API's URLs and the words of the drop reasons."""
    return {
        "previewUrl": reverse("exports_api:project_preview", args=[project.pk]),
        "zipUrl": reverse("exports_api:project_zip", args=[project.pk]),
        "idLists": list(ID_LISTS),
        "dropReasons": DROP_WORDS,
    }

"""The exports API: a project's export zip, streamed as it is written; its preview (what the
zip would hold); and the project's export history. Options come in the query string (see
exports.options); session or API token; a project the person may not export is a 404.
"""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse

from exports import services
from exports.models import Export
from exports.options import options_parse
from exports.permissions import get_project_for_export
from exports.selectors import export_plan, export_preview
from wsi2ml.api import api

HISTORY_MAX = 100


@api("GET")
def project_zip(request: HttpRequest, project_id: int) -> HttpResponse:
    """The export zip, recorded in the project's history; the first bytes leave at once."""
    project = get_project_for_export(request.user, project_id)
    options = options_parse(project=project, query=request.GET)
    plan = export_plan(options=options, counted=False)
    export = services.export_start(user=request.user, options=options, plan=plan)
    response = StreamingHttpResponse(
        services.export_stream(export=export, plan=plan), content_type="application/zip"
    )
    response["Content-Disposition"] = f'attachment; filename="{export.file_name}"'
    response["X-Export-Id"] = str(export.pk)
    response["Cache-Control"] = "private, no-store"
    return response


@api("GET")
def project_preview(request: HttpRequest, project_id: int) -> HttpResponse:
    """What the zip of these options would hold: slides, features per class, dropped."""
    project = get_project_for_export(request.user, project_id)
    options = options_parse(project=project, query=request.GET)
    return JsonResponse(export_preview(options=options))


@api("GET")
def project_history(request: HttpRequest, project_id: int) -> HttpResponse:
    """The project's latest exports, newest first, each with the URL that downloads it again."""
    project = get_project_for_export(request.user, project_id)
    exports = Export.objects.history(project)[:HISTORY_MAX]
    return JsonResponse({"exports": [_export_json(export) for export in exports]})


def _export_json(export: Export) -> dict:
    url = reverse("exports_api:project_zip", args=[export.project_id])
    return {
        "id": export.pk,
        "user": export.user.get_username(),
        "created": export.created_at.isoformat(),
        "finished": export.finished_at and export.finished_at.isoformat(),
        "state": export.state,
        "parameters": export.parameters,
        "counts": export.counts,
        "sha256": export.content_sha256,
        "bytes": export.bytes,
        "fileName": export.file_name,
        "downloadUrl": f"{url}?{urlencode(export.parameters)}" if export.parameters else url,
    }

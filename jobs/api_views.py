"""The jobs API, under /api/jobs/ (wsi2ml.urls): a job's state, for its page and for scripts
(session or API token); a job the person may not follow is a 404."""

from django.http import HttpRequest, HttpResponse, JsonResponse

from jobs.permissions import job_for_user
from jobs.selectors import job_json
from jobs.services import job_reap_if_stale
from wsi2ml.api import api


@api("GET")
def job(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's state, progress, message and result."""
    found = job_reap_if_stale(job=job_for_user(request.user, job_id))
    response = JsonResponse(job_json(found))
    response["Cache-Control"] = "private, no-store"
    return response

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from jobs.permissions import job_for_user
from jobs.selectors import job_json
from jobs.services import job_reap_if_stale


@require_GET
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    """A job's progress bar, state and outcome, kept up to date by jobs/job.js."""
    job = job_reap_if_stale(job=job_for_user(request.user, job_id))
    context = {
        "job": job,
        "status": job_json(job),
        "config": {
            "statusUrl": reverse("jobs_api:job", args=[job.pk]),
            "timeZone": settings.TIME_ZONE,
        },
    }
    return render(request, "jobs/job.html", context)

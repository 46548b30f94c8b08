"""Review's background job: computing the agreement of every slide of a project at once.

The agreement pages compute for at most PAGE_BUDGET_SECONDS a visit; this job (started from the
admin's project list, tasks.admin) computes what is left, slide by slide
(review.agreement.project_agreement without a budget). Each slide's result goes to the cache on
its own, as the pages store it: a job that fails part way keeps the slides it finished,
complete, and running it again computes only the others.
"""

import time

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse

from jobs.models import Job
from jobs.registry import JobFailed, JobOutcome, register
from jobs.services import Progress
from review import agreement
from tasks.models import Project
from tasks.permissions import managed_projects


def manages_project(user: AbstractBaseUser, job: Job) -> bool:
    """Who follows a project's agreement pages follows its agreement jobs."""
    return managed_projects(user).filter(pk=job.params.get("project")).exists()


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def agreement_details(job: Job) -> list[str]:
    result = job.result or {}
    lines = [
        f"{task['name']}: mean Dice {_figure(task['mean_dice'])}, F1 {_figure(task['f1'])} "
        f"over {task['slides']} slides"
        for task in result.get("tasks", [])
    ]
    if result.get("too_large"):
        lines.append(
            f"{result['too_large']} slides have too many overlapping regions to compare "
            f"(more than {agreement.MAX_CANDIDATE_PAIRS:,} pairs)."
        )
    if result and not result.get("kept", True):
        lines.append(
            "The results were kept in the worker's own memory only, and are gone: set "
            "CACHE_URL to the server's Redis so that the agreement pages find them."
        )
    return lines


def agreement_links(job: Job) -> list[tuple[str, str]]:
    url = reverse("review:project_agreement", args=[job.params.get("project")])
    return [("The project's agreement", url)]


@register(
    Job.Kind.COMPUTE_AGREEMENT,
    permissions=(),
    may_view=manages_project,
    details=agreement_details,
    links=agreement_links,
)
def compute_agreement(*, job: Job, progress: Progress) -> JobOutcome:
    """Compute and cache the agreement of every slide of the job's project not cached yet."""
    project = Project.objects.filter(pk=job.params.get("project")).first()
    if project is None:
        raise JobFailed("The project no longer exists: nothing was computed.")
    started = time.monotonic()
    report = agreement.project_agreement(
        project=project, budget_seconds=float("inf"), progress=progress
    )
    message = report.summary(time.monotonic() - started) + "."
    tasks = [
        {
            "id": item.task.pk,
            "name": item.task.name,
            "slides": item.overall.slides,
            "mean_dice": item.overall.mean_dice,
            "mean_iou": item.overall.mean_iou,
            "f1": item.overall.objects.f1,
        }
        for item in report.tasks
    ]
    result = {
        "project": project.pk,
        "slides": report.slides,
        "computed": report.computed,
        "cached": report.cached,
        "too_large": report.too_large,
        "tasks": tasks,
        "kept": not settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"),
    }
    return JobOutcome(message=message, result=result)

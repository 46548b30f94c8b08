"""Who may follow which job: the one rule, asked by the job page and the job API alike."""

from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404

from jobs.models import Job
from jobs.registry import UnknownJobKind, kind_for


def may_follow(user: AbstractBaseUser, job: Job) -> bool:
    """The job's creator; staff holding the permissions its kind names, and passing its kind's
    own rule (a project's agreement: its managers)."""
    if not (user.is_authenticated and user.is_active):
        return False
    if job.created_by_id == user.pk:
        return True
    if not user.is_staff:
        return False
    try:
        kind = kind_for(job.kind)
    except UnknownJobKind:
        return False
    if not user.has_perms(kind.permissions):
        return False
    return kind.may_view is None or kind.may_view(user, job)


def job_for_user(user: AbstractBaseUser, job_id: int) -> Job:
    """The job ``job_id`` if ``user`` may follow it; Http404 otherwise, as for no job at all."""
    job = Job.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or not may_follow(user, job):
        raise Http404("No such job.")
    return job

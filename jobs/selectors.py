"""Reads of jobs for the page and the API: one description of a job, shared by both."""

from datetime import datetime

from jobs.models import Job
from jobs.registry import UnknownJobKind, kind_for


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def job_details(job: Job) -> list[str]:
    """Lines its kind adds under the message (a scan's refused files), once it has a result."""
    try:
        kind = kind_for(job.kind)
    except UnknownJobKind:
        return []
    return list(kind.details(job)) if kind.details and job.result else []


def job_links(job: Job) -> list[dict]:
    """Where to go from the job (the slides it scanned), as {"text", "url"}."""
    try:
        kind = kind_for(job.kind)
    except UnknownJobKind:
        return []
    return [{"text": text, "url": url} for text, url in (kind.links(job) if kind.links else [])]


def job_json(job: Job) -> dict:
    """The job as GET /api/jobs/<id> answers it."""
    return {
        "id": job.pk,
        "kind": job.kind,
        "kind_name": job.get_kind_display(),
        "state": job.state,
        "state_name": job.get_state_display(),
        "final": job.is_final,
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "message": job.message,
        "details": job_details(job),
        "links": job_links(job),
        "result": job.result,
        "attempts": job.attempts,
        "created_by": job.created_by.get_username() if job.created_by else None,
        "created": _when(job.created_at),
        "started": _when(job.started_at),
        "finished": _when(job.finished_at),
        "heartbeat": _when(job.heartbeat_at),
    }

"""The slide registry's background job: scanning a folder of SLIDES_ROOT (started by the admin).

A scan that fails part way leaves nothing half-stored: slides_scan saves each file in its own
transaction, so every file it reached is registered completely and the others not at all, and
it marks slides missing only at the end of a whole scan. Running it again converges: unchanged
files are skipped, and the rest is done as if the first run had not stopped.
"""

from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse

from jobs.models import Job
from jobs.registry import JobFailed, JobOutcome, register
from jobs.services import Progress, job_enqueue
from slides.services import ScanFolderInvalid, ScanReport, slides_scan

SCAN_PERMISSIONS = ("slides.add_slide", "slides.change_slide")
# Paths kept per list of a job's report: the counts are always whole, the lists are what a
# page shows (a whole archive refused would otherwise store megabytes in the job's row).
PATHS_KEPT = 1000
# A report shown on a page or as messages lists this many problems, then "... and n more".
PROBLEMS_SHOWN = 20


def scan_job_start(*, folder: str, actor: AbstractBaseUser) -> Job:
    """Queue a scan of ``folder`` (relative to SLIDES_ROOT, "" for all of it)."""
    return job_enqueue(kind=Job.Kind.SCAN_SLIDES, params={"folder": folder}, actor=actor)


def report_lines(report: ScanReport, *, counts: dict[str, int] | None = None) -> list[str]:
    """A scan report's problems, one line each (refused, unreadable, then missing paths), at
    most PROBLEMS_SHOWN, then how many more; ``counts`` are the whole report's, if larger."""
    problems = report.problems() + [f"Missing {path}" for path in report.missing]
    counts = counts or report.counts()
    lines = problems[:PROBLEMS_SHOWN]
    hidden = sum(counts[name] for name in ("refused", "unreadable", "missing")) - len(lines)
    if hidden > 0:
        lines.append(f"... and {hidden} more.")
    return lines


def _report_json(report: ScanReport) -> dict:
    lists = {name: getattr(report, name)[:PATHS_KEPT] for name in report.counts()}
    return {"folder": report.folder, "counts": report.counts(), **lists}


def _report_of(result: dict) -> ScanReport:
    pairs = ("moved", "unreadable", "refused")
    lists = {
        name: [tuple(item) if name in pairs else item for item in result.get(name, [])]
        for name in ScanReport().counts()
    }
    return ScanReport(folder=result.get("folder", ""), **lists)


def scan_details(job: Job) -> list[str]:
    if not job.result:
        return []
    return report_lines(_report_of(job.result), counts=job.result.get("counts"))


def scan_links(job: Job) -> list[tuple[str, str]]:
    url = reverse("admin:slides_slide_changelist")
    folder = job.params.get("folder", "")
    if folder:
        url = f"{url}?{urlencode({'folder': folder})}"
    return [("The slides in the admin", url)]


@register(
    Job.Kind.SCAN_SLIDES, permissions=SCAN_PERMISSIONS, details=scan_details, links=scan_links
)
def scan_slides(*, job: Job, progress: Progress) -> JobOutcome:
    """Scan the job's folder, reporting each file as it goes."""
    try:
        report = slides_scan(folder=job.params.get("folder", ""), progress=progress.each)
    except ScanFolderInvalid as exc:
        raise JobFailed(f"Nothing was scanned: {exc}") from exc
    return JobOutcome(message=report.summary(), result=_report_json(report))

"""The layers' background job: importing an uploaded file too large to import in its request.

The import is one transaction (layers.services.layer_import): a job that fails, or whose worker
stops, leaves no feature stored; run again, it starts afresh from the file, which stays in
LAYER_UPLOAD_DIR until the import has ended one way or the other.
"""

from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404

from jobs.models import Job
from jobs.registry import JobFailed, JobOutcome, register
from jobs.services import JobLost, Progress, job_enqueue
from layers import services
from layers.models import Layer
from layers.permissions import get_layer_for_user

IMPORT_LAYER = Job.Kind.IMPORT_LAYER


def import_job_start(*, layer: Layer, path: Path, options: services.ImportOptions) -> Layer:
    """Queue the import of ``path`` (in LAYER_UPLOAD_DIR) into ``layer``."""
    params = {"layer": layer.pk, "file": path.name, "options": options.to_json()}
    job = job_enqueue(kind=IMPORT_LAYER, params=params, actor=layer.uploaded_by)
    layer.job_id = job.pk
    layer.save(update_fields=["job_id"])
    return layer


def _may_view(user: AbstractBaseUser, job: Job) -> bool:
    try:
        get_layer_for_user(user, job.params.get("layer"))
    except Http404:  # the layer is not theirs to see, or gone
        return False
    return True


@register(IMPORT_LAYER, permissions=(), may_view=_may_view)
def import_layer(*, job: Job, progress: Progress) -> JobOutcome:
    """Import the job's file into its layer, reporting the features stored as it goes."""
    layer = Layer.objects.select_related("slide", "project").filter(pk=job.params["layer"]).first()
    if layer is None:
        raise JobFailed("The layer was deleted before its import ran.")
    path = Path(settings.LAYER_UPLOAD_DIR) / Path(job.params["file"]).name
    if not path.exists():
        services.layer_fail(layer=layer, message="The uploaded file is gone; upload it again.")
        raise JobFailed("The uploaded file is gone; upload it again.")
    options = services.ImportOptions.from_json(job.params.get("options", {}))
    finished = False
    try:
        layer = services.layer_import(layer=layer, path=path, options=options, progress=progress)
        finished = True
    except JobLost:
        raise  # another worker runs it now, from the same file
    except services.LayerFileError as exc:
        finished = True
        services.layer_fail(layer=layer, message=exc.message)
        raise JobFailed(exc.message) from None
    finally:
        if finished:
            path.unlink(missing_ok=True)
    return JobOutcome(message=layer.message, result={"layer": layer.pk})

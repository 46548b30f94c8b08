"""Who sees which uploaded layer, and who may upload or delete one.

Derived from the annotations' rule (annotations.permissions.visible_assignment_ids): a layer
belongs to a slide and a project, and whoever sees any of that project's annotation work on
the slide sees the project's layers there: the annotators and reviewers holding the slide in
the project, its managers (members) and superusers. Those who may export the project's
annotations (exports.permissions: its managers and ML specialists, superusers) see its layers
too, and they alone upload and delete them: a model's output goes where its training data
came from. Everyone else gets a 404, as for a layer that does not exist.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from annotations.permissions import (
    ALL,
    Visible,
    assignments_visible_to,
    on_slide_filter,
    visible_assignment_ids,
    visible_filter,
)
from layers.models import Layer
from slides.models import Slide
from slides.permissions import user_can_view_slide
from tasks.models import Assignment, Project, TaskSlide
from tasks.permissions import ml_projects
from wsi2ml.api import ApiError

User = AbstractBaseUser | AnonymousUser


def layer_projects(user: User, slide: Slide) -> Visible:
    """The projects whose layers on ``slide`` ``user`` sees (ids), or ALL."""
    if not (user.is_authenticated and user.is_active):
        return frozenset()
    if user.is_superuser:
        return ALL
    ids = set(uploadable_projects(user, slide).values_list("pk", flat=True))
    if user_can_view_slide(user, slide):
        visible = visible_assignment_ids(user, slide)
        work = Assignment.objects.filter(visible_filter(visible, "pk"))
        ids.update(work.values_list("task__project_id", flat=True))
    return frozenset(ids)


def uploader_projects(user: User) -> QuerySet[Project]:
    """The projects whose layers ``user`` may upload and delete: those whose annotations they
    may export (tasks.permissions.ml_projects), since a model's output goes where its training
    data came from."""
    return ml_projects(user)


def uploadable_projects(user: User, slide: Slide) -> QuerySet[Project]:
    """The projects holding ``slide`` in a task for which ``user`` may upload layers."""
    holding = TaskSlide.objects.filter(slide=slide).values("task__project_id")
    return uploader_projects(user).filter(pk__in=holding)


def get_slide_for_layers(user: User, slide_id: int) -> Slide:
    """The slide, for its layers: 404 unless ``user`` sees it, or may upload layers to it."""
    slide = Slide.objects.filter(pk=slide_id).first()
    if slide is None or not (
        user_can_view_slide(user, slide) or uploadable_projects(user, slide).exists()
    ):
        raise Http404("No such slide.")
    return slide


def visible_layers(user: User, slide: Slide) -> QuerySet[Layer]:
    projects = layer_projects(user, slide)
    return Layer.objects.filter(visible_filter(projects, "project_id"), slide=slide)


def get_layer_for_user(user: User, layer_id: int, *, write: bool = False) -> Layer:
    """The layer; 404 when it does not exist or ``user`` does not see it, and with ``write``
    403 when they see it but may not delete it."""
    layer = Layer.objects.select_related("slide", "project").filter(pk=layer_id).first()
    if layer is None:
        raise Http404("No such layer.")
    projects = layer_projects(user, layer.slide)
    if projects is not ALL and layer.project_id not in projects:
        raise Http404("No such layer.")
    if write:
        check_can_upload(user, layer.project)
    return layer


def may_upload(user: User, project: Project) -> bool:
    """Whether ``user`` may upload (and delete) the layers of ``project``."""
    return uploader_projects(user).filter(pk=project.pk).exists()


def check_can_upload(user: User, project: Project) -> None:
    """PermissionDenied unless ``user`` may upload (and delete) the layers of ``project``."""
    if not may_upload(user, project):
        raise PermissionDenied(
            "Only the project's managers and ML specialists upload and delete its layers."
        )


def project_for_slide_upload(user: User, slide: Slide, raw: str | None) -> Project:
    """The project an upload to ``slide`` is for: ``raw`` (its id), or the one project holding
    the slide that ``user`` uploads for. 403 for someone who uploads for none of them; 400
    for an id that is none of them (unknown or not theirs: the same answer) or, with several
    and none named, asking to name one."""
    allowed = list(uploadable_projects(user, slide).order_by("pk"))
    if not allowed:
        raise PermissionDenied(
            "Only the managers and ML specialists of a project holding this slide upload layers."
        )
    if raw:
        chosen = next((p for p in allowed if str(p.pk) == raw), None)
        if chosen is None:
            raise ApiError(f"No project {raw} holds this slide for you.", field="project")
        return chosen
    if len(allowed) > 1:
        ids = ", ".join(str(p.pk) for p in allowed)
        raise ApiError(f"Several projects hold this slide ({ids}); name one.", field="project")
    return allowed[0]


def get_project_for_uploader(user: User, project_id: int) -> Project:
    """The project, for one of its uploaders (the layers pages); 404 for everyone else."""
    project = uploader_projects(user).filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project.")
    return project


def get_slide_for_uploader(user: User, slide_id: int) -> tuple[Slide, list[Project]]:
    """The slide and the projects holding it that ``user`` uploads for (a slide's upload
    page); 404 when there are none."""
    slide = Slide.objects.filter(pk=slide_id).first()
    projects = [] if slide is None else list(uploadable_projects(user, slide).order_by("name"))
    if not projects:
        raise Http404("No such slide.")
    return slide, projects


def get_project_for_upload(user: User, project_id: int) -> Project:
    """The project, for a project-wide upload: 404 for one ``user`` has no part in, 403 for a
    member who may not upload."""
    project = uploader_projects(user).filter(pk=project_id).first()
    if project is not None:
        return project
    project = Project.objects.filter(pk=project_id).first()
    if project is not None and (
        project.members.filter(pk=user.pk).exists()
        or project.tasks.filter(assignments__assignee=user).exists()
    ):
        raise PermissionDenied("Only the project's managers and ML specialists upload layers.")
    raise Http404("No such project.")


def reference_assignments(
    user: User, layer: Layer, *, assignments: str | None, task: str | None
) -> list[Assignment]:
    """The assignments whose annotations on the layer's slide a comparison takes as reference:
    ``assignments`` (comma-separated ids) or all of ``task``'s, among those ``user`` sees there
    (annotations.permissions), or, for those who may export the project
    (tasks.permissions.ml_projects), any of the project's: they take the same annotations out
    in exports. An id outside that set is answered as one that does not exist."""
    if bool(assignments) == bool(task):
        raise ApiError("Give the reference as assignments=<ids> or task=<id>.", field="assignments")
    seen = assignments_visible_to(user, layer.slide).filter(on_slide_filter(layer.slide))
    if ml_projects(user).filter(pk=layer.project_id).exists():
        seen = Assignment.objects.filter(on_slide_filter(layer.slide))
    seen = seen.filter(task__project=layer.project_id)
    if task:
        chosen = list(seen.filter(task_id=_id(task, "task")))
        if not chosen:
            raise ApiError(f"No task {task} with work on this slide that you see.", field="task")
        return chosen
    ids = [_id(raw, "assignments") for raw in assignments.split(",")[:50]]
    chosen = list(seen.filter(pk__in=ids))
    if len(chosen) != len(set(ids)):
        missing = sorted(set(ids) - {a.pk for a in chosen})
        raise ApiError(
            f"No assignment {missing[0]} with work on this slide that you see.",
            field="assignments",
        )
    return chosen


def _id(raw: str, field: str) -> int:
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(f"{field} must be ids (whole numbers).", field=field)
    return int(raw)

"""Who may see which assignment and which project overview."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from tasks.models import AssignmentSlide, Project
from tasks.roles import ML_SPECIALIST


def is_manager(user: AbstractBaseUser) -> bool:
    """Staff and project managers follow the progress of the projects they manage."""
    return user.is_staff or user.has_perm("tasks.view_assignment")


def managed_projects(user: AbstractBaseUser) -> QuerySet[Project]:
    """The projects whose work ``user`` follows and sees: all for a superuser; for staff and
    project managers, the projects they are members of; none for anyone else.

    Membership scopes a manager: a manager of project A sees nothing of project B.
    """
    if not (user.is_authenticated and user.is_active):
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    if is_manager(user):
        return Project.objects.filter(members=user)
    return Project.objects.none()


def is_ml_specialist(user: AbstractBaseUser) -> bool:
    """Whether ``user`` holds the ML specialist role (an active, logged-in member of its group)."""
    return (
        user.is_authenticated and user.is_active and user.groups.filter(name=ML_SPECIALIST).exists()
    )


def ml_projects(user: AbstractBaseUser) -> QuerySet[Project]:
    """The projects whose annotations ``user`` may take out to train on (exports) and whose
    models' output they may bring back (layers): all for a superuser; for staff and project
    managers the projects they manage; for ML specialists the projects they are members of;
    none for anyone else (inactive and anonymous users included).
    """
    if not (user.is_authenticated and user.is_active):
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    # Ids through subqueries rather than the members join: each project once, and a queryset
    # the caller can still filter, annotate and order.
    allowed = Q(pk__in=managed_projects(user).values("pk"))
    if is_ml_specialist(user):
        allowed |= Q(pk__in=Project.objects.filter(members=user).values("pk"))
    return Project.objects.filter(allowed)


def get_assignment_slide_for_user(
    user: AbstractBaseUser, assignment_id: int, slide_id: int
) -> AssignmentSlide:
    """Return the user's own progress row for this slide; 404 for anyone else's."""
    item = (
        AssignmentSlide.objects.select_related("assignment__task__project", "slide")
        .filter(assignment_id=assignment_id, slide_id=slide_id, assignment__assignee=user)
        .first()
    )
    if item is None:
        raise Http404("No such slide in your assignments.")
    return item


def get_project_for_manager(user: AbstractBaseUser, project_id: int) -> Project:
    """404 for a project the user has no part in; 403 for a member who is not a manager."""
    project = managed_projects(user).filter(pk=project_id).first()
    if project is not None:
        return project
    project = Project.objects.filter(pk=project_id).first()
    if project is None or is_manager(user):
        raise Http404("No such project.")
    if (
        project.members.filter(pk=user.pk).exists()
        or project.tasks.filter(assignments__assignee=user).exists()
    ):
        raise PermissionDenied("Only project managers see a project's progress.")
    raise Http404("No such project.")

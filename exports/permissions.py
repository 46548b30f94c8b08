"""Who may export which project's annotations."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.http import Http404

from tasks.models import Project
from tasks.permissions import managed_projects
from tasks.roles import ML_SPECIALIST


def is_ml_specialist(user: AbstractBaseUser) -> bool:
    """Whether ``user`` holds the ML specialist role (an active, logged-in member of its group)."""
    return (
        user.is_authenticated and user.is_active and user.groups.filter(name=ML_SPECIALIST).exists()
    )


def exportable_projects(user: AbstractBaseUser) -> QuerySet[Project]:
    """The projects ``user`` may export: all for a superuser; for staff and project managers the
    projects they manage; for ML specialists the projects they are members of; none for anyone
    else (inactive and anonymous users included).
    """
    if not (user.is_authenticated and user.is_active):
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    # Ids through subqueries rather than the members join: each project once, and a queryset
    # the caller can still filter, annotate and order.
    exportable = Q(pk__in=managed_projects(user).values("pk"))
    if is_ml_specialist(user):
        exportable |= Q(pk__in=Project.objects.filter(members=user).values("pk"))
    return Project.objects.filter(exportable)


def get_project_for_export(user: AbstractBaseUser, project_id: int) -> Project:
    """The project ``project_id`` if ``user`` may export it; 404 otherwise, the same answer
    whether the project exists or not."""
    project = exportable_projects(user).filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project.")
    return project

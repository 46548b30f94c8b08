"""Who may export which project's annotations: the projects of tasks.permissions.ml_projects,
whose models' output the same people upload as layers."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from tasks.models import Project
from tasks.permissions import ml_projects


def exportable_projects(user: AbstractBaseUser) -> QuerySet[Project]:
    """The projects ``user`` may export (tasks.permissions.ml_projects)."""
    return ml_projects(user)


def get_project_for_export(user: AbstractBaseUser, project_id: int) -> Project:
    """The project ``project_id`` if ``user`` may export it; 404 otherwise, the same answer
    whether the project exists or not."""
    project = exportable_projects(user).filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project.")
    return project

"""Data migrations of tasks, run on today's models (their historical form is the same)."""

import importlib

import pytest
from django.apps import apps

from tasks.models import Project
from tests import factories

pytestmark = pytest.mark.django_db

members = importlib.import_module("tasks.migrations.0005_managers_follow_member_projects")


def test_managers_and_staff_of_before_follow_every_project_they_saw(project):
    other = Project.objects.create(name="Another project")
    manager = factories.user_create("manager", is_staff=True)
    manager.groups.add(factories.role_group("Project manager"))
    staff = factories.user_create("staff-member", is_staff=True)
    annotator = factories.user_create("annotator-only", role="Annotator")
    gone = factories.user_create("former-staff", is_staff=True, is_active=False)

    members.managers_join_every_project(apps, None)

    for each in (project, other):
        names = set(each.members.values_list("username", flat=True))
        assert {"manager", "staff-member"} <= names
        assert not names & {annotator.username, gone.username}
    assert staff.projects.count() == 2

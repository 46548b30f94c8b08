"""Who may export a project: exports.permissions, one table of persona × expected answer."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from exports.permissions import exportable_projects, get_project_for_export
from tasks import roles
from tests import factories

pytestmark = pytest.mark.django_db

MAY_EXPORT = [
    ("mlspecialist", True),
    ("ml-outsider", False),  # an ML specialist, but of another project
    ("manager", True),
    ("other-manager", False),
    ("pathologist", False),  # an annotator of the project
    ("reviewer", False),
    ("outsider", False),
    ("superuser", True),
    ("inactive-ml", False),
]


@pytest.mark.parametrize(("persona", "allowed"), MAY_EXPORT)
def test_who_may_export_the_project(people, project, persona, allowed):
    user = people[persona]
    if allowed:
        assert get_project_for_export(user, project.pk) == project
    else:
        with pytest.raises(Http404, match=r"^No such project\.$"):
            get_project_for_export(user, project.pk)


def test_a_project_that_does_not_exist_gets_the_same_404(people):
    with pytest.raises(Http404, match=r"^No such project\.$"):
        get_project_for_export(people["mlspecialist"], 999_999)


def test_anonymous_user_may_export_nothing(project):
    assert not exportable_projects(AnonymousUser()).exists()


def test_each_persona_sees_only_their_projects(people, project, other_project):
    def names(persona):
        return list(exportable_projects(people[persona]).values_list("name", flat=True))

    assert names("mlspecialist") == ["Breast tumour segmentation"]
    assert names("ml-outsider") == ["Lung nodules"]
    assert names("other-manager") == ["Lung nodules"]
    assert names("superuser") == ["Breast tumour segmentation", "Lung nodules"]
    assert names("pathologist") == []


def test_a_manager_who_is_also_ml_specialist_sees_each_project_once(people, project):
    manager = people["manager"]
    manager.groups.add(factories.role_group(roles.ML_SPECIALIST))
    assert list(exportable_projects(manager)) == [project]

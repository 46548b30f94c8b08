import pytest

from tests import factories


@pytest.fixture
def slides(slides_root, db):
    """Four small registered slides, named so that two pairs share a case number."""
    names = ["CASE-01-A.tiff", "CASE-01-B.tiff", "CASE-02-A.tiff", "CASE-03-A.tiff"]
    return [
        factories.slide_create(slides_root, name, width=600, height=400, seed=i)
        for i, name in enumerate(names)
    ]


@pytest.fixture
def manager(project):
    """A project manager of the project (managers see the projects they are members of)."""
    from django.contrib.auth.models import Group

    user = factories.user_create("manager", is_staff=True)
    user.groups.add(Group.objects.get(name="Project manager"))
    project.members.add(user)
    return user

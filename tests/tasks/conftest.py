import pytest

from tasks import roles, services
from tasks.models import AssignmentSlide, Task
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
    user = factories.user_create("manager", is_staff=True)
    user.groups.add(factories.role_group("Project manager"))
    project.members.add(user)
    return user


# --- Review delegation ---------------------------------------------------------------------------


@pytest.fixture
def reviewer(db):
    """A reviewer who annotates nothing."""
    return factories.user_create("reviewer", role=roles.REVIEWER)


@pytest.fixture
def pathologist(db):
    """A pathologist who annotates (slides 0 and 1 of ``outlines``) and reviews."""
    user = factories.user_create("pathologist", role=roles.ANNOTATOR)
    user.groups.add(factories.role_group(roles.REVIEWER))
    return user


@pytest.fixture
def other_annotator(db):
    """Another annotator (slides 1 and 2 of ``outlines``), who also reviews."""
    user = factories.user_create("other-annotator", role=roles.ANNOTATOR)
    user.groups.add(factories.role_group(roles.REVIEWER))
    return user


@pytest.fixture
def outlines(project, slides, pathologist, other_annotator, admin_user):
    """The annotation task “Tumour outlines” over the four slides: pathologist holds slides 0
    and 1, other-annotator slides 1 and 2; slide 3 is nobody's. Every held slide is annotated
    (in progress) but pathologist's slide 1, not started."""
    task = Task.objects.create(project=project, name="Tumour outlines", created_by=admin_user)
    services.task_add_slides(task=task, slides=slides, actor=admin_user)
    mine = services.assignment_create(
        task=task, assignee=pathologist, slides=slides[:2], actor=admin_user
    )
    theirs = services.assignment_create(
        task=task, assignee=other_annotator, slides=slides[1:3], actor=admin_user
    )
    AssignmentSlide.objects.filter(assignment__task=task).exclude(
        assignment=mine, slide=slides[1]
    ).update(state=AssignmentSlide.State.IN_PROGRESS)
    return task, mine, theirs

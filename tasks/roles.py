"""The roles WSI2ML knows, as Django groups, and the model permissions each carries.

Object permissions on slides come from delegation, not from roles: a role says what a person
may do in general (use the admin to delegate, export), an assignment says on which slides.
"""

from django.contrib.auth import get_user_model
from django.db.models import Q

ANNOTATOR = "Annotator"
REVIEWER = "Reviewer"
PROJECT_MANAGER = "Project manager"
ML_SPECIALIST = "ML specialist"

_TASK_MODELS = ("project", "label", "task", "taskslide", "assignment", "assignmentslide")

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    ANNOTATOR: [],
    # Reviewers, like annotators, work in the viewer on the slides delegated to them: the admin
    # is not theirs, so the role carries no model permission.
    REVIEWER: [],
    PROJECT_MANAGER: [
        *[
            ("tasks", f"{verb}_{model}")
            for model in _TASK_MODELS
            for verb in ("view", "add", "change")
        ],
        ("tasks", "delete_taskslide"),
        ("tasks", "delete_assignment"),
        ("tasks", "view_delegationevent"),
        ("slides", "view_slide"),
        ("slides", "change_slide"),
        ("auth", "view_user"),
    ],
    ML_SPECIALIST: [
        ("tasks", "view_project"),
        ("tasks", "view_label"),
        ("tasks", "view_task"),
    ],
}


# Who may be given each kind of task's assignments: the active members of one role. This is the
# one home of the rule: the admin's forms offer, and tasks.services accepts, only these people.
# (A pathologist who both annotates and reviews holds both roles; tasks.services sees to it that
# nobody reviews their own work.)
ASSIGNEE_ROLES: dict[str, str] = {"annotation": ANNOTATOR, "review": REVIEWER}


def assignees_filter(kind: str | None = None) -> Q:
    """Match the users who may be given an assignment of a task of ``kind`` (of any, if None)."""
    names = [ASSIGNEE_ROLES[kind]] if kind in ASSIGNEE_ROLES else []
    if kind is None:
        names = sorted(set(ASSIGNEE_ROLES.values()))
    # A subquery rather than a join on groups, so that nobody is listed twice.
    members = get_user_model().groups.through.objects.filter(group__name__in=names)
    return Q(is_active=True, pk__in=members.values("user_id"))

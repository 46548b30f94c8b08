"""The roles WSI2ML knows, as Django groups, and the model permissions each carries.

Object permissions on slides come from delegation, not from roles: a role says what a person
may do in general (use the admin to delegate, export), an assignment says on which slides.
"""

ANNOTATOR = "Annotator"
REVIEWER = "Reviewer"
PROJECT_MANAGER = "Project manager"
ML_SPECIALIST = "ML specialist"

_TASK_MODELS = ("project", "label", "task", "taskslide", "assignment", "assignmentslide")

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    ANNOTATOR: [],
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

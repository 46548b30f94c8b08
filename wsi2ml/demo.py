"""
The demonstration set-up behind ``manage.py load_demo``: slides, an account in every role, a
project with labels, and a task delegated with overlap 2. Every step is idempotent: running it
again adds what is missing and changes nothing else.
"""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from slides import demo as demo_slides
from slides.files import SLIDE_SUFFIXES
from slides.models import Slide
from tasks import roles, services
from tasks.models import Label, Project, Task

# Path under SLIDES_ROOT, width, height, seed: one large slide to zoom around, three smaller.
DEMO_SLIDES = (
    ("demo/case-01-a.tiff", demo_slides.DEMO_WIDTH, demo_slides.DEMO_HEIGHT, 7),
    ("demo/case-01-b.tiff", 4096, 3072, 11),
    ("demo/case-02-a.tiff", 4096, 3072, 13),
    ("demo/case-03-a.tiff", 4096, 3072, 17),
)

# Username, role (group) or None, staff, superuser.
DEMO_ACCOUNTS = (
    ("admin", None, True, True),
    ("pathologist", roles.ANNOTATOR, False, False),
    ("pathologist2", roles.ANNOTATOR, False, False),
    ("pathologist3", roles.ANNOTATOR, False, False),
    ("reviewer", roles.REVIEWER, False, False),
    ("manager", roles.PROJECT_MANAGER, True, False),
    ("mlspecialist", roles.ML_SPECIALIST, False, False),
)
ANNOTATORS = ("pathologist", "pathologist2", "pathologist3")

DEMO_PROJECT = "Demo: breast cancer regions"
DEMO_LABELS = (
    ("Tumour", "#d62728", "1", "Invasive carcinoma, outlined at its border."),
    ("Stroma", "#2ca02c", "2", "Tumour-associated stroma."),
    ("Necrosis", "#7f7f7f", "3", "Necrotic areas inside or beside the tumour."),
    ("Lymphocytes", "#1f77b4", "4", "Dense lymphocytic infiltrates."),
    ("Normal gland", "#9467bd", "5", "Benign ducts and lobules."),
)
DEMO_TASK = "Tumour regions, round 1"
DEMO_INSTRUCTIONS = (
    "Outline every region of invasive tumour, stroma and necrosis on each slide. Use "
    "lymphocytes for dense infiltrates only. When a slide is complete, press “Done, next slide”."
)


@dataclass
class DemoLogin:
    user: AbstractBaseUser
    username: str
    role: str
    password: str | None  # None: an account that existed already and kept its password
    created: bool


def holds_slide_files(root: Path) -> bool:
    """Tell whether any file under ``root`` (hidden folders aside) looks like a slide."""
    for _folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        if any(Path(name).suffix.lower() in SLIDE_SUFFIXES for name in files):
            return True
    return False


def demo_slides_draw(*, root: Path) -> list[Path]:
    """Draw the demo slides under ``root`` (call only when it holds no slide)."""
    return [
        demo_slides.write_demo_slide(root / path, width=width, height=height, seed=seed)
        for path, width, height, seed in DEMO_SLIDES
    ]


def demo_users_ensure(*, password: str = "") -> list[DemoLogin]:
    """Make sure every demo account exists, in its role.

    With ``password``, every demo account is given it. Without, new accounts share one random
    password, made once here, and accounts that exist keep theirs (and their flags).
    """
    User = get_user_model()
    new_password = password or secrets.token_urlsafe(12)
    logins = []
    for username, role, staff, superuser in DEMO_ACCOUNTS:
        with transaction.atomic():
            user = User.objects.select_for_update().filter(username=username).first()
            created = user is None
            if created:
                user = User(username=username, is_staff=staff, is_superuser=superuser)
            if created or password:
                user.set_password(new_password)
                user.save()
            if created and role:
                user.groups.add(Group.objects.get(name=role))
        logins.append(
            DemoLogin(
                user=user,
                username=username,
                role=role or "Administrator",
                password=new_password if created or password else None,
                created=created,
            )
        )
    return logins


@transaction.atomic
def demo_project_ensure() -> Project:
    project, _ = Project.objects.get_or_create(
        name=DEMO_PROJECT,
        defaults={"description": "Regions of breast cancer resections, for segmentation."},
    )
    for order, (name, colour, key, description) in enumerate(DEMO_LABELS):
        Label.objects.get_or_create(
            project=project,
            name=name,
            defaults={
                "colour": colour,
                "shortcut": key,
                "order": order,
                "description": description,
            },
        )
    return project


def demo_task_ensure(*, project: Project, actor: AbstractBaseUser) -> Task | None:
    """Delegate the readable slides to the demo annotators with overlap 2, once."""
    task = Task.objects.filter(project=project, name=DEMO_TASK).first()
    slides = list(Slide.objects.readable().order_by("path"))
    if task is not None or not slides:
        return task
    annotators = list(get_user_model().objects.filter(username__in=ANNOTATORS).order_by("username"))
    return services.batch_delegate(
        project=project,
        task_name=DEMO_TASK,
        instructions=DEMO_INSTRUCTIONS,
        slides=slides,
        annotators=annotators,
        overlap=2,
        actor=actor,
    )

"""Test data: users in each role and synthetic pyramidal slides written with tifffile."""

import operator
from functools import reduce
from pathlib import Path

import numpy as np
import tifffile
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from slides.models import Slide
from slides.services import slide_register_file
from tasks import roles

PASSWORD = "correct-horse-battery-staple"


def user_create(username: str, *, role: str = "", **extra) -> "get_user_model()":
    """A user with the test password, in ``role`` (a group of tasks.roles) when one is given."""
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@example.org", **extra
    )
    if role:
        user.groups.add(role_group(role))
    return user


def role_group(role: str) -> Group:
    """The role's group, made again with its permissions when missing: tests outside a
    transaction (browser tests) run on a database emptied of the groups the migrations made,
    though not of the permissions."""
    group, created = Group.objects.get_or_create(name=role)
    if created:
        wanted = [
            Q(content_type__app_label=app, codename=codename)
            for app, codename in roles.ROLE_PERMISSIONS.get(role, [])
        ]
        if wanted:
            group.permissions.set(Permission.objects.filter(reduce(operator.or_, wanted)))
    return group


def synthetic_pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with a grid, so that every tile differs from its neighbours."""
    y, x = np.mgrid[0:height, 0:width]
    red = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    green = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    blue = ((((x // 37) + (y // 29)) % 2 * 200 + 30 + seed * 7) % 256).astype(np.uint8)
    return np.stack([red, green, blue], axis=-1)


def write_pyramid_tiff(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """Write a tiled, multi-level generic TIFF that OpenSlide opens as a pyramid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    level = synthetic_pixels(width, height, seed)
    with tifffile.TiffWriter(path) as tiff:
        first = True
        while True:
            tiff.write(
                level,
                tile=(256, 256),
                compression="zlib",
                photometric="rgb",
                subfiletype=0 if first else 1,
                metadata=None,
            )
            first = False
            if max(level.shape[:2]) <= 512:
                break
            level = level[::2, ::2]
    return path


def slide_create(
    root: Path, name: str = "synthetic.tiff", width=1500, height=1000, seed=0
) -> Slide:
    path = write_pyramid_tiff(root / name, width, height, seed)
    return slide_register_file(path=path, root=root)


def scanner_sized_slides(root: Path, width: int, height: int, count: int = 2) -> list[Slide]:
    """``count`` slides (CASE-01-A.tiff, CASE-01-B.tiff, ...) registered as ``width`` x
    ``height`` px at 0.25 µm/px, a scanner's size, while their files stay small."""
    made = []
    for i in range(count):
        slide = slide_create(root, f"CASE-01-{chr(65 + i)}.tiff", width=300, height=200, seed=i)
        slide.width, slide.height, slide.mpp_x, slide.mpp_y = width, height, 0.25, 0.25
        slide.save()
        made.append(slide)
    return made


def square(x: float, y: float, size: float = 100) -> dict:
    """A GeoJSON square with its top-left corner at (x, y)."""
    return rectangle(x, y, x + size, y + size)


def rectangle(x0: float, y0: float, x1: float, y1: float) -> dict:
    """A GeoJSON axis-aligned rectangle."""
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def annotation_task_create(*, project, name: str, slides, annotators, actor=None):
    """An annotation task of ``project`` on ``slides``, with one assignment of all of them per
    annotator (given the Annotator role if they lack it); return the task and the assignments."""
    from tasks import services
    from tasks.models import Task

    task = Task.objects.create(project=project, name=name)
    services.task_add_slides(task=task, slides=slides, actor=actor)
    assignments = []
    for person in annotators:
        person.groups.add(role_group(roles.ANNOTATOR))
        assignments.append(
            services.assignment_create(task=task, assignee=person, slides=slides, actor=actor)
        )
    return task, assignments


def annotation_draw(*, assignment, slide, label, geometry: dict, kind: str = "polygon"):
    """An annotation drawn by the assignee through the service, as the editor would store it."""
    from annotations import services

    annotation, _ = services.annotation_create(
        slide=slide,
        assignment=assignment,
        author=assignment.assignee,
        label=label,
        kind=kind,
        geometry=geometry,
    )
    return annotation

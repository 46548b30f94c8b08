"""
The demonstration set-up behind ``manage.py load_demo``: slides, an account in every role, a
project with labels, a task delegated with overlap 2, and annotations by two pathologists. Every
step is idempotent: running it again adds what is missing and changes nothing else.
"""

import json
import math
import os
import random
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openslide
import shapely.affinity
import shapely.geometry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from annotations import geometry
from annotations import services as annotation_services
from annotations.models import Annotation
from review import services as review_services
from slides import demo as demo_slides
from slides import tiles
from slides.files import SLIDE_SUFFIXES
from slides.models import Slide
from tasks import roles, selectors, services
from tasks.models import AssignmentSlide, Label, Project, Task

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
# Members of the demo project: managers follow it, the ML specialist exports it.
DEMO_MEMBERS = ("manager", "mlspecialist")

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
    password, made once here, and accounts that exist keep theirs (and their flags). An account
    that exists without its role is given it: only annotators can be delegated slides.
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
            if role:
                user.groups.add(Group.objects.get(name=role))  # nothing when already in it
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
    # Managers follow the projects they are members of; ML specialists export them.
    project.members.add(*get_user_model().objects.filter(username__in=DEMO_MEMBERS))
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
    annotators = list(
        selectors.assignable_users(kind=Task.Kind.ANNOTATION).filter(username__in=ANNOTATORS)
    )
    return services.batch_delegate(
        project=project,
        task_name=DEMO_TASK,
        instructions=DEMO_INSTRUCTIONS,
        slides=slides,
        annotators=annotators,
        overlap=2,
        actor=actor,
    )


# --- Demo annotations --------------------------------------------------------------------------

DEMO_ANNOTATORS = ("pathologist", "pathologist2")
# A fixed namespace, so that each demo annotation has the same uuid on every run.
DEMO_UUIDS = uuid.UUID("6f1d0c52-5c1e-4f55-9a52-3d7d2b6a0c11")


def _blob(rng: random.Random, cx: float, cy: float, rx: float, ry: float, n: int) -> list:
    """An irregular closed ring around (cx, cy), like a region outlined by hand."""
    phase = [rng.uniform(0, 2 * math.pi) for _ in range(3)]
    ring = []
    for i in range(n):
        angle = 2 * math.pi * i / n
        wobble = 1 + 0.18 * math.sin(3 * angle + phase[0]) + 0.1 * math.sin(5 * angle + phase[1])
        wobble += 0.05 * math.sin(11 * angle + phase[2]) + rng.uniform(-0.03, 0.03)
        ring.append([cx + rx * wobble * math.cos(angle), cy + ry * wobble * math.sin(angle)])
    return [*ring, ring[0]]


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> list:
    ring = [
        [cx + rx * math.cos(2 * math.pi * i / 64), cy + ry * math.sin(2 * math.pi * i / 64)]
        for i in range(64)
    ]
    return [*ring, ring[0]]


# Thumbnail pixels darker than this (mean of R, G, B) are tissue; the glass is near white.
TISSUE_BELOW = 215
TISSUE_THUMBNAIL = 256
# Shapes go this many thumbnail pixels inside the tissue where there is room.
TISSUE_MARGIN = 12


def _inner(mask: np.ndarray, margin: int) -> np.ndarray:
    """The pixels of ``mask`` whose whole (2 margin + 1)² square lies inside it."""
    side = 2 * margin + 1
    summed = np.pad(mask.astype(np.int32), margin + 1).cumsum(0).cumsum(1)
    window = (
        summed[side:, side:]
        - summed[:-side, side:]
        - summed[side:, :-side]
        + summed[:-side, :-side]
    )
    return window[: mask.shape[0], : mask.shape[1]] == side * side


def _tissue_points(slide: Slide) -> np.ndarray | None:
    """Level-0 (x, y) of the tissue pixels of the slide's thumbnail; None when unreadable."""
    try:
        thumbnail = tiles.open_slide(slide.pk, slide).osr.get_thumbnail(
            (TISSUE_THUMBNAIL, TISSUE_THUMBNAIL)
        )
    except (tiles.SlideUnavailable, openslide.OpenSlideError):
        return None
    pixels = np.asarray(thumbnail.convert("RGB"), dtype=np.float32)
    tissue = pixels.mean(axis=2) < TISSUE_BELOW
    core = _inner(tissue, TISSUE_MARGIN)
    rows, columns = np.nonzero(core if core.any() else tissue)
    if rows.size == 0:
        return None
    scale_x, scale_y = slide.width / pixels.shape[1], slide.height / pixels.shape[0]
    return np.column_stack(((columns + 0.5) * scale_x, (rows + 0.5) * scale_y))


def _demo_shapes(
    width: int, height: int, seed: str, tissue: np.ndarray | None = None
) -> list[tuple[str, str, dict, str]]:
    """(label, kind, geometry, name) of the demo annotations of one person on one slide.

    Each shape has a place in a fixed layout; with ``tissue`` (see _tissue_points) regions and
    points move to the nearest tissue, so that they outline something.
    """
    rng = random.Random(seed)

    def at(fx: float, fy: float, snap: bool = True) -> tuple[float, float]:
        x, y = width * (fx + rng.uniform(-0.03, 0.03)), height * (fy + rng.uniform(-0.03, 0.03))
        if tissue is None or not snap:
            return x, y
        nearest = tissue[np.argmin((tissue[:, 0] - x) ** 2 + (tissue[:, 1] - y) ** 2)]
        return float(nearest[0]), float(nearest[1])

    def polygon(*rings) -> dict:
        return {"type": "Polygon", "coordinates": list(rings)}

    s = min(width, height)
    shapes = [
        ("Tumour", "polygon", polygon(_blob(rng, *at(0.3, 0.35), 0.12 * s, 0.09 * s, 48)), ""),
        ("Tumour", "freehand", polygon(_blob(rng, *at(0.68, 0.6), 0.1 * s, 0.13 * s, 120)), ""),
        ("Stroma", "polygon", polygon(_blob(rng, *at(0.5, 0.25), 0.08 * s, 0.05 * s, 36)), ""),
        ("Stroma", "freehand", polygon(_blob(rng, *at(0.2, 0.7), 0.07 * s, 0.1 * s, 90)), ""),
        ("Necrosis", "polygon", polygon(_blob(rng, *at(0.3, 0.36), 0.04 * s, 0.03 * s, 24)), ""),
        ("Lymphocytes", "ellipse", polygon(_ellipse(*at(0.82, 0.25), 0.05 * s, 0.03 * s)), ""),
        ("Lymphocytes", "ellipse", polygon(_ellipse(*at(0.45, 0.8), 0.03 * s, 0.04 * s)), ""),
    ]
    x, y = at(0.08, 0.1)
    w, h = 0.1 * s, 0.07 * s
    rectangle = [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]
    shapes.append(("Normal gland", "rectangle", polygon(rectangle), "Benign duct"))
    for i in range(3):
        point = {"type": "Point", "coordinates": list(at(0.55 + 0.04 * i, 0.45 + 0.02 * i))}
        shapes.append(("Lymphocytes", "point", point, f"Lymphocyte cluster {i + 1}"))
    # The line's two ends may not both move to the same bit of tissue.
    ends = [list(at(0.15, 0.9, snap=False)), list(at(0.4, 0.86, snap=False))]
    line = {"type": "LineString", "coordinates": ends}
    shapes.append(("Stroma", "line", line, "Tumour margin"))
    # A brush stroke around a spared island: a shell with a hole.
    cx, cy = at(0.75, 0.2)
    shell = _blob(rng, cx, cy, 0.07 * s, 0.05 * s, 60)
    hole = _blob(rng, cx, cy, 0.025 * s, 0.018 * s, 24)[::-1]
    shapes.append(("Necrosis", "brush", polygon(shell, hole), "Necrosis around a spared island"))
    return shapes


def demo_annotations_ensure(*, task: Task) -> int:
    """Give the task's slides a set of annotations by the first two demo pathologists, once.

    Made through annotations.services, so that they have revisions and density cells; each
    has a fixed uuid, so running this again finds them and stores nothing. Return how many
    annotations were created.
    """
    labels = {label.name: label for label in task.project.labels.all()}
    assignments = task.assignments.filter(assignee__username__in=DEMO_ANNOTATORS).select_related(
        "assignee", "task"
    )
    created = 0
    for assignment in assignments:
        if not assignment.is_open:
            continue
        # A slide marked done takes no more annotations (see annotations.services).
        done = AssignmentSlide.State.DONE
        for item in assignment.assignment_slides.exclude(state=done).select_related("slide"):
            slide = item.slide
            if not (slide.width and slide.height):
                continue
            seed = f"{assignment.assignee.get_username()}/{slide.path}"
            shapes = _demo_shapes(slide.width, slide.height, seed, _tissue_points(slide))
            for index, (label, kind, shape, name) in enumerate(shapes):
                _, new = annotation_services.annotation_create(
                    slide=slide,
                    assignment=assignment,
                    author=assignment.assignee,
                    label=labels[label],
                    kind=kind,
                    geometry=shape,
                    name=name,
                    uuid=uuid.uuid5(DEMO_UUIDS, f"{seed}/{index}"),
                )
                created += new
            # Storing an annotation starts its slide; demo annotations stored before that rule
            # (found above by uuid, so not stored again) left their slides "Not started".
            services.work_start(assignment=assignment, slide=slide)
    return created


# --- Demo review -------------------------------------------------------------------------------

DEMO_REVIEW_TASK = "Review of tumour regions, round 1"
DEMO_REVIEWER = "reviewer"
DEMO_REVIEW_INSTRUCTIONS = (
    "Step through the annotations with Next (N): agree (A), relabel (L), correct the region (R) "
    "or reject (X); add what was missed with the drawing tools. Mark the slide reviewed when done."
)
# What the demo reviewer says of each demo annotation, by its place in _demo_shapes: a verdict
# of every kind, with comments, so that agreement figures and feedback show at once.
DEMO_VERDICTS = {
    0: ("agree", None, ""),
    1: ("agree", None, "Clean border; well done."),
    2: ("wrong_label", "Tumour", "Infiltrating tumour cells here, not stroma."),
    3: ("wrong_region", None, "The stroma stops short of the fat: outline corrected."),
    4: ("reject", None, "Crush artefact, not necrosis."),
    5: ("agree", None, ""),
}
DEMO_MISSED_UUID = uuid.UUID("0e8a4f8e-8f7c-4e63-9d0e-7f0a3f3c2b55")


def demo_review_ensure(*, task: Task, actor: AbstractBaseUser) -> Task | None:
    """Delegate a review of the demo pathologists' work to the demo reviewer, once."""
    review = Task.objects.filter(project=task.project, name=DEMO_REVIEW_TASK).first()
    if review is not None:
        return review
    reviewers = list(
        selectors.assignable_users(kind=Task.Kind.REVIEW).filter(username=DEMO_REVIEWER)
    )
    reviewed = list(task.assignments.filter(assignee__username__in=DEMO_ANNOTATORS))
    if not reviewers or not reviewed:
        return None
    return services.batch_delegate_review(
        reviewed_task=task,
        reviewed_assignments=reviewed,
        task_name=DEMO_REVIEW_TASK,
        instructions=DEMO_REVIEW_INSTRUCTIONS,
        reviewers=reviewers,
        overlap=1,
        actor=actor,
    )


def _shrunk(region: dict) -> dict:
    """The region drawn 15 % smaller about its centre: the demo reviewer's correction."""
    shape = shapely.geometry.shape(region)
    return json.loads(shapely.to_geojson(shapely.affinity.scale(shape, 0.85, 0.85)))


def demo_verdicts_ensure(*, review: Task) -> int:
    """Give verdicts of every kind on the first slide under review, and one missed region.

    Through review.services, as a reviewer would; a verdict given again is found unchanged,
    so running this twice stores nothing new. Return how many verdicts now stand.
    """
    assignment = review.assignments.select_related("assignee").first()
    item = None if assignment is None else assignment.assignment_slides.first()
    if item is None or not assignment.is_open or item.state == AssignmentSlide.State.DONE:
        return 0
    labels = {label.name: label for label in review.project.labels.all()}
    given = 0
    for reviewed in review.reviewed_work().filter(assignment_slides__slide=item.slide):
        annotations = Annotation.objects.filter(
            assignment=reviewed, slide=item.slide, is_deleted=False
        ).order_by("id")
        for index, annotation in enumerate(annotations[: len(DEMO_VERDICTS)]):
            kind, label, comment = DEMO_VERDICTS[index]
            if kind == "wrong_label" and labels[label].pk == annotation.label_id:
                kind, label = "agree", None
            polygonal = geometry.KIND_SHAPES.get(annotation.kind) == geometry.POLYGONAL
            if kind == "wrong_region" and not polygonal:
                kind = "agree"  # a point or a line has no region to correct
            corrected = _shrunk(annotation.geometry) if kind == "wrong_region" else None
            review_services.verdict_set(
                review_assignment=assignment,
                annotation=annotation,
                reviewer=assignment.assignee,
                kind=kind,
                label=labels[label] if label else None,
                geometry=corrected,
                comment=comment,
            )
            given += 1
    _demo_missed_region(assignment=assignment, item=item, labels=labels)
    return given


def _demo_missed_region(*, assignment, item: AssignmentSlide, labels: dict) -> None:
    """A region the annotators missed, drawn by the reviewer on their own layer."""
    slide = item.slide
    if not (slide.width and slide.height):
        return
    rng = random.Random(f"{DEMO_REVIEWER}/{slide.path}")
    ring = _blob(
        rng, 0.62 * slide.width, 0.3 * slide.height, 0.04 * slide.width, 0.03 * slide.height, 40
    )
    annotation_services.annotation_create(
        slide=slide,
        assignment=assignment,
        author=assignment.assignee,
        label=labels["Tumour"],
        kind="polygon",
        geometry={"type": "Polygon", "coordinates": [ring]},
        name="Missed tumour focus",
        comment="Added in review.",
        uuid=DEMO_MISSED_UUID,
    )

"""Reads of exports: what an export holds (the plan and its preview), its rows, and the summary
of the projects a person may export.

The plan reads no geometry: its counts come from one GROUP BY over the chosen annotations by
slide, label and verdict summary, and the policy (exports.policy) judges each group once, so
that the Python side of a preview costs the same for a thousand annotations or a million. The
rows are then read slide by slide with a server-side cursor (exports.rows' SQL) and judged by
the same policy, so that the preview's counts are what the zip holds.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, Q
from wsi2ml_toolkit.export import stem_make

from annotations.models import Annotation
from exports import portable, rows
from exports.options import ExportOptions
from exports.permissions import exportable_projects
from exports.policy import DROP_REASONS, Policy
from exports.rows import ExportClass, ExportRow, ExportSlide
from review.models import Verdict
from slides.models import Slide
from tasks.models import Assignment, AssignmentSlide, Label, Project, Task, TaskSlide
from wsi2ml.api import ApiError

# A label mask is held whole while it is painted (exports.writer): 40 megapixels is 40 MB at
# one byte per pixel (80 MB past 255 classes), within the server's memory bound.
MASK_MAX_PIXELS = 40_000_000
# Rows fetched from the server-side cursor at a time: 2,000 rows of 20 vertices are about
# 1.5 MB, few round trips and little memory.
FETCH_ROWS = 2000


@dataclass
class ExportPlan:
    """What an export holds: its slides (with their chosen work and feature counts), classes,
    the project's labels, the policy that judges each annotation, and counts:
    {"features": n, "per_class": {class name: n}, "dropped": {reason: n}}."""

    options: ExportOptions
    project: dict
    slides: list[ExportSlide]
    classes: list[ExportClass]
    labels: list[dict]
    policy: Policy
    counts: dict


def export_plan(*, options: ExportOptions, counted: bool = True) -> ExportPlan:
    """The plan of the export ``options`` describe (options_parse checked their ids).

    Without ``counted`` the plan leaves its counts empty (and each slide's features 0): the zip
    counts what it writes instead, and does not make its first byte wait for the counting
    query (3.9 s over 1,000,000 annotations).

    Raise ApiError (400, field mask_mpp) when a slide's mask at ``mask_mpp`` would exceed
    MASK_MAX_PIXELS or be finer than the slide, or the slide has no resolution.
    """
    project = Project.objects.only("pk", "name").get(pk=options.project_id)
    labels = list(Label.objects.filter(project=project).order_by("order", "name", "pk"))
    classes, class_of = _classes(labels, options)
    policy = Policy(
        name=options.policy,
        min_agreement=options.min_agreement,
        apply_corrections=options.apply_corrections,
        class_of=class_of,
    )
    slides = _slides(options)
    if options.mask_mpp is not None:
        for slide in slides:
            _check_mask(slide, options.mask_mpp)
    counts = _counts(slides, policy, classes) if counted else {}
    return ExportPlan(
        options=options,
        project={"id": project.pk, "name": project.name},
        slides=slides,
        classes=classes,
        labels=[{"id": la.pk, "name": la.name, "colour": la.colour} for la in labels],
        policy=policy,
        counts=counts,
    )


def _classes(
    labels: list[Label], options: ExportOptions
) -> tuple[list[ExportClass], dict[int, int]]:
    """The export classes of the labels kept, in the project's label order: a class takes the
    place and colour of its first label; and each kept label's class index."""
    renamed = dict(options.classes)
    kept = set(options.labels)
    grouped: dict[str, list[Label]] = {}
    for label in labels:
        if not kept or label.pk in kept:
            grouped.setdefault(renamed.get(label.pk, label.name), []).append(label)
    classes = [
        ExportClass(
            index=index,
            name=name,
            colour=members[0].colour.lower(),
            label_ids=tuple(label.pk for label in members),
        )
        for index, (name, members) in enumerate(grouped.items(), start=1)
    ]
    return classes, {label_id: c.index for c in classes for label_id in c.label_ids}


def _slides(options: ExportOptions) -> list[ExportSlide]:
    """The slides of the chosen tasks (and of the slides option), ordered by path, each with
    the assignments whose work on it is exported."""
    tasks = Task.objects.filter(project_id=options.project_id)
    if options.tasks:
        tasks = tasks.filter(pk__in=options.tasks)
    task_slides = TaskSlide.objects.filter(task__in=tasks)
    if options.slides:
        task_slides = task_slides.filter(slide_id__in=options.slides)
    slides = Slide.objects.filter(pk__in=task_slides.values("slide_id")).order_by("path", "pk")
    work = AssignmentSlide.objects.filter(assignment__task__in=tasks, slide__in=slides)
    if options.annotators:
        work = work.filter(assignment__assignee_id__in=options.annotators)
    if not options.include_in_progress:
        work = work.filter(
            Q(state=AssignmentSlide.State.DONE) | Q(assignment__state=Assignment.State.COMPLETED)
        )
    chosen: dict[int, list[int]] = defaultdict(list)
    for slide_id, assignment_id in work.values_list("slide_id", "assignment_id"):
        chosen[slide_id].append(assignment_id)
    return [_export_slide(slide, sorted(chosen[slide.pk])) for slide in slides]


def _export_slide(slide: Slide, assignments: list[int]) -> ExportSlide:
    bounds = (slide.bounds_x, slide.bounds_y, slide.bounds_width, slide.bounds_height)
    return ExportSlide(
        id=slide.pk,
        path=slide.path,
        name=slide.name,
        quickhash=slide.quickhash,
        width=slide.width,
        height=slide.height,
        mpp_x=slide.mpp_x,
        mpp_y=slide.mpp_y,
        objective_power=slide.objective_power,
        bounds=bounds if None not in bounds else None,
        stem=stem_make(slide_id=slide.pk, path=slide.path),
        assignments=tuple(assignments),
    )


def _check_mask(slide: ExportSlide, mpp: float) -> None:
    if not (slide.mpp_x and slide.mpp_y and slide.width and slide.height):
        raise ApiError(
            f"Slide {slide.path} has no resolution (µm per pixel): it cannot have a mask; "
            "leave mask_mpp out or choose other slides.",
            field="mask_mpp",
        )
    finest = max(slide.mpp_x, slide.mpp_y)
    # The mask's size at the finest mpp that keeps it within the bound: width and height
    # shrink together, so the pixel count falls with the square of the mpp.
    area_um2 = slide.width * slide.mpp_x * slide.height * slide.mpp_y
    fits = math.ceil(max(finest, math.sqrt(area_um2 / MASK_MAX_PIXELS)) * 1000) / 1000
    width = math.ceil(slide.width * slide.mpp_x / mpp - 1e-9)
    height = math.ceil(slide.height * slide.mpp_y / mpp - 1e-9)
    if mpp < finest - 1e-9 or width * height > MASK_MAX_PIXELS:
        raise ApiError(
            f"A mask of slide {slide.path} at {mpp:g} µm/px would be {width} × {height} px: "
            f"masks are at most {MASK_MAX_PIXELS // 1_000_000} megapixels and no finer than "
            f"the slide. Choose mask_mpp {fits:g} or more.",
            field="mask_mpp",
        )


# The annotations of the chosen work by slide, label and verdict summary: the plan's only read
# of annotations, with no geometry. Work pairs (assignment, slide) come as two arrays.
_COUNTS_SQL = """
SELECT a.slide_id, a.label_id, t.kind = '{review}', COALESCE(v.agree, 0),
    COALESCE(v.wrong_region, 0), COALESCE(v.reject, 0), v.wrong_labels, count(*)
FROM {annotation} a
JOIN unnest(%(assignments)s::bigint[], %(slides)s::bigint[]) AS work(assignment_id, slide_id)
    ON work.assignment_id = a.assignment_id AND work.slide_id = a.slide_id
JOIN {assignment} w ON w.id = a.assignment_id
JOIN {task} t ON t.id = w.task_id
LEFT JOIN (
    SELECT v.annotation_id,
        count(*) FILTER (WHERE v.kind = 'agree') AS agree,
        count(*) FILTER (WHERE v.kind = 'wrong_region') AS wrong_region,
        count(*) FILTER (WHERE v.kind = 'reject') AS reject,
        array_agg(v.label_id ORDER BY v.label_id) FILTER (WHERE v.kind = 'wrong_label')
            AS wrong_labels
    FROM {verdict} v
    JOIN {annotation} va ON va.id = v.annotation_id
    WHERE v.is_current AND va.slide_id = ANY(%(slides)s::bigint[])
    GROUP BY v.annotation_id
) v ON v.annotation_id = a.id
WHERE NOT a.is_deleted
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""


def _counts(slides: list[ExportSlide], policy: Policy, classes: list[ExportClass]) -> dict:
    """Count the features per slide (set on each slide) and class, and the dropped by reason."""
    pairs = [(a, slide.id) for slide in slides for a in slide.assignments]
    per_slide: Counter[int] = Counter()
    per_class: Counter[int] = Counter()
    dropped: Counter[str] = Counter()
    if pairs:
        params = {"assignments": [a for a, _ in pairs], "slides": [s for _, s in pairs]}
        groups = _count_groups(pairs, params)
        for slide_id, label, missed, agree, wrong_region, reject, wrong_labels, n in groups:
            judgement = policy.judge(
                own_label=label,
                agree=agree,
                wrong_labels=wrong_labels or (),
                wrong_region=wrong_region,
                reject=reject,
                missed=missed,
            )
            if judgement.reason is None:
                per_slide[slide_id] += n
                per_class[judgement.class_index] += n
            else:
                dropped[judgement.reason] += n
    for slide in slides:
        slide.features = per_slide[slide.id]
    return {
        "features": sum(per_slide.values()),
        "per_class": {c.name: per_class[c.index] for c in classes},
        "dropped": {reason: dropped[reason] for reason in DROP_REASONS},
    }


def _tables() -> dict[str, str]:
    user = get_user_model()
    return {
        "annotation": Annotation._meta.db_table,
        "assignment": Assignment._meta.db_table,
        "task": Task._meta.db_table,
        "user": user._meta.db_table,
        "username": user._meta.get_field(user.USERNAME_FIELD).column,
        "verdict": Verdict._meta.db_table,
    }


def export_preview(*, options: ExportOptions) -> dict:
    """The plan in JSON-ready form, for the export page: slides, classes, counts, the policy."""
    plan = export_plan(options=options)
    per_class = plan.counts["per_class"]
    names = {label["id"]: label["name"] for label in plan.labels}
    return {
        "project": plan.project,
        "query": options.query(),
        "slides": [
            {"id": s.id, "name": s.name, "path": s.path, "stem": s.stem, "features": s.features}
            for s in plan.slides
        ],
        "classes": [
            {
                "index": c.index,
                "name": c.name,
                "colour": c.colour,
                "labels": [{"id": pk, "name": names[pk]} for pk in c.label_ids],
                "features": per_class[c.name],
            }
            for c in plan.classes
        ],
        "features": plan.counts["features"],
        "dropped": plan.counts["dropped"],
        "policy": plan.policy.describe(),
    }


def export_rows(
    *,
    options: ExportOptions,
    plan: ExportPlan,
    slide: ExportSlide,
    dropped: Counter | None = None,
) -> Iterator[ExportRow]:
    """The exported rows of ``slide`` (one of ``plan.slides``), in annotation id order, with the
    plan's policy applied (what it drops counted by reason in ``dropped``, when given); read
    with a server-side cursor, FETCH_ROWS at a time."""
    if not slide.assignments:
        return
    policy, mpp_x, mpp_y = plan.policy, slide.mpp_x, slide.mpp_y
    convert = rows.row_from_record
    for record in _records(slide):
        row = convert(record, policy=policy, mpp_x=mpp_x, mpp_y=mpp_y, dropped=dropped)
        if row is not None:
            yield row


def _records(slide: ExportSlide) -> Iterator[tuple]:
    if connection.vendor != "postgresql":
        yield from portable.records(slide=slide)
        return
    with connection.chunked_cursor() as cursor:
        cursor.execute(rows.rows_sql(tables=_tables()), rows.rows_params(slide=slide))
        for records in rows.prefetched(lambda: cursor.fetchmany(FETCH_ROWS)):
            yield from records


def _count_groups(pairs: list[tuple[int, int]], params: dict) -> list[tuple]:
    if connection.vendor != "postgresql":
        return portable.counts(work=pairs)
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS_SQL.format(review=rows.REVIEW_KIND, **_tables()), params)
        return cursor.fetchall()


# --- The ML specialist's home page ----------------------------------------------------------


def exportable_projects_summary(user: AbstractBaseUser) -> list[dict]:
    """The projects ``user`` may export, by name, each as {"project", "slides", "tasks",
    "completed_assignments", "annotations" (live ones)}; one query per kind of count."""
    projects = list(exportable_projects(user).order_by("name", "pk"))
    ids = [p.pk for p in projects]
    slides = dict(
        TaskSlide.objects.filter(task__project__in=ids)
        .values_list("task__project")
        .annotate(n=Count("slide", distinct=True))
    )
    tasks = dict(
        Task.objects.filter(project__in=ids).values_list("project").annotate(n=Count("pk"))
    )
    completed = dict(
        Assignment.objects.filter(task__project__in=ids, state=Assignment.State.COMPLETED)
        .values_list("task__project")
        .annotate(n=Count("pk"))
    )
    annotations = dict(
        Annotation.objects.filter(assignment__task__project__in=ids, is_deleted=False)
        .values_list("assignment__task__project")
        .annotate(n=Count("pk"))
    )
    return [
        {
            "project": p,
            "slides": slides.get(p.pk, 0),
            "tasks": tasks.get(p.pk, 0),
            "completed_assignments": completed.get(p.pk, 0),
            "annotations": annotations.get(p.pk, 0),
        }
        for p in projects
    ]


def export_choices(*, project: Project) -> dict[str, list[tuple[int, str, str]]]:
    """What an export's options choose from: the project's tasks, slides, labels and the people
    who hold its work, each as (id, name, detail)."""
    people = Assignment.objects.filter(task__project=project).values("assignee_id")
    slides = Slide.objects.filter(task_slides__task__project=project).distinct()
    return {
        "tasks": [(t.pk, t.name, t.get_kind_display()) for t in project.tasks.all()],
        "slides": [(s.pk, s.name, s.path) for s in slides.order_by("path", "pk")],
        "labels": [(label.pk, label.name, label.colour) for label in project.labels.all()],
        "annotators": [
            (u.pk, u.get_username(), u.get_full_name())
            for u in get_user_model().objects.filter(pk__in=people).order_by("username")
        ],
    }

"""Writes to annotations. Every change is one transaction that checks who may write, leaves an
AnnotationRevision and keeps the AnnotationCell counts in step."""

import copy
import math
import uuid as uuid_module
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction

from annotations import geometry, permissions, selectors
from annotations.models import Annotation, AnnotationCell, AnnotationRevision
from slides.models import Slide
from tasks import services as task_services
from tasks.models import Assignment, Label
from wsi2ml.api import ApiError

NAME_MAX = 200
COMMENT_MAX = 10_000


class AnnotationError(ApiError, ValueError):
    """A write that cannot be made as asked (400); the message is for the person who asked."""


class AnnotationConflict(ApiError):
    """A write against a stale version or a deleted annotation (409); ``current`` is the truth,
    sent along with the refusal."""

    status = 409

    def __init__(self, message: str, *, current: Annotation):
        super().__init__(message)
        self.current = current

    def payload(self) -> dict:
        return {"current": selectors.annotation_feature(self.current)}


@dataclass(frozen=True)
class _State:
    """What a revision records of an annotation before and after a change."""

    geometry: dict | None
    label_id: int | None
    comment: str


NOTHING = _State(geometry=None, label_id=None, comment="")


def _state(annotation: Annotation) -> _State:
    return _State(annotation.geometry, annotation.label_id, annotation.comment)


# --- Checks ------------------------------------------------------------------------------------


def _check_slide(actor: AbstractBaseUser, assignment: Assignment, slide: Slide) -> None:
    """The slide must be in the assignment, and open to edits (permissions.edit_refusal)."""
    state = assignment.assignment_slides.filter(slide=slide).values_list("state", flat=True).first()
    if state is None:
        raise AnnotationError(
            f"Slide {slide.pk} is not part of assignment {assignment.pk}.", field="assignment"
        )
    permissions.check_can_write(actor, assignment, state)


def _check_label(assignment: Assignment, label: Label) -> None:
    # Another project's label is answered as an unknown id is (the API's own wording), so that
    # neither its name nor its existence leaks to people outside that project.
    if label.project_id != assignment.task.project_id:
        raise AnnotationError(f"No label {label.pk}.", field="label")
    if label.is_archived:
        raise AnnotationError(f"Label “{label.name}” is archived.", field="label")


def _check_text(name: str, comment: str) -> None:
    if not isinstance(name, str) or len(name) > NAME_MAX:
        raise AnnotationError(f"name must be text of at most {NAME_MAX} characters.", field="name")
    if not isinstance(comment, str) or len(comment) > COMMENT_MAX:
        raise AnnotationError(
            f"comment must be text of at most {COMMENT_MAX} characters.", field="comment"
        )


def _check_version(annotation: Annotation, version: int | None) -> None:
    if version is not None and version != annotation.version:
        raise AnnotationConflict(
            f"The annotation was changed elsewhere: you sent version {version}, "
            f"the current version is {annotation.version}.",
            current=annotation,
        )


def _clean(raw: object, *, kind: str, slide: Slide) -> geometry.CleanGeometry:
    return geometry.clean(
        raw,
        kind=kind,
        width=slide.width,
        height=slide.height,
        mpp_x=slide.mpp_x,
        mpp_y=slide.mpp_y,
        max_vertices=settings.ANNOTATION_MAX_VERTICES,
    )


def _apply(annotation: Annotation, shape: geometry.CleanGeometry) -> None:
    annotation.geometry = shape.geojson
    annotation.x0, annotation.y0, annotation.x1, annotation.y1 = shape.bbox
    annotation.vertex_count = shape.vertex_count
    annotation.area_px, annotation.area_um2 = shape.area_px, shape.area_um2
    annotation.length_px, annotation.length_um = shape.length_px, shape.length_um
    annotation.repaired = shape.repaired


def _lock(annotation: Annotation) -> Annotation:
    """Re-read the annotation with a row lock, so that concurrent writes apply one by one."""
    return (
        Annotation.objects.select_for_update(of=("self",))
        .select_related("slide", "assignment__task", "label", "author")
        .get(pk=annotation.pk)
    )


def _revise(
    annotation: Annotation, *, action: str, actor: AbstractBaseUser, before: _State, after: _State
) -> None:
    AnnotationRevision.objects.create(
        annotation=annotation,
        action=action,
        actor=actor,
        version=annotation.version,
        geometry_before=before.geometry,
        geometry_after=after.geometry,
        label_before_id=before.label_id,
        label_after_id=after.label_id,
        comment_before=before.comment,
        comment_after=after.comment,
    )


# --- Density cells -----------------------------------------------------------------------------


def cell_of(annotation: Annotation) -> tuple[int, int]:
    """The AnnotationCell grid square holding the centre of the annotation's bounding box."""
    size = AnnotationCell.CELL_SIZE
    return (
        math.floor((annotation.x0 + annotation.x1) / 2 / size),
        math.floor((annotation.y0 + annotation.y1) / 2 / size),
    )


_CELL_KEY = "slide_id, assignment_id, label_id, gx, gy"


def _cells_add(annotation: Annotation, sign: int) -> None:
    """Count the annotation in (sign 1) or out of (sign -1) its cell, in one upsert."""
    table = connection.ops.quote_name(AnnotationCell._meta.db_table)
    key = (annotation.slide_id, annotation.assignment_id, annotation.label_id, *cell_of(annotation))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({_CELL_KEY}, count, area_px) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            f"ON CONFLICT ({_CELL_KEY}) DO UPDATE SET count = {table}.count + excluded.count, "
            f"area_px = {table}.area_px + excluded.area_px",
            [*key, sign, sign * annotation.area_px],
        )
        if sign < 0:
            cursor.execute(
                f"DELETE FROM {table} WHERE slide_id = %s AND assignment_id = %s "
                "AND label_id = %s AND gx = %s AND gy = %s AND count <= 0",
                key,
            )


def _cells_move(before: Annotation, after: Annotation) -> None:
    old = (before.label_id, cell_of(before), before.area_px)
    if old != (after.label_id, cell_of(after), after.area_px):
        _cells_add(before, -1)
        _cells_add(after, 1)


def annotation_cells_rebuild(*, slide: Slide) -> None:
    """Recount the slide's AnnotationCell rows from its live annotations, in two statements.

    For bulk loads (which bypass the services) and for repairs; safe to run at any time.
    """
    cells = connection.ops.quote_name(AnnotationCell._meta.db_table)
    annotations = connection.ops.quote_name(Annotation._meta.db_table)
    size = float(AnnotationCell.CELL_SIZE)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {cells} WHERE slide_id = %s", [slide.pk])
        cursor.execute(
            f"INSERT INTO {cells} ({_CELL_KEY}, count, area_px) "
            f"SELECT {_CELL_KEY}, COUNT(*), SUM(area_px) FROM ("
            "  SELECT slide_id, assignment_id, label_id, area_px,"
            "    CAST(FLOOR((x0 + x1) / 2 / %s) AS INTEGER) AS gx,"
            "    CAST(FLOOR((y0 + y1) / 2 / %s) AS INTEGER) AS gy"
            f"  FROM {annotations} WHERE slide_id = %s AND NOT is_deleted"
            f") AS live GROUP BY {_CELL_KEY}",
            [size, size, slide.pk],
        )


# --- Writes ------------------------------------------------------------------------------------


@transaction.atomic
def annotation_create(
    *,
    slide: Slide,
    assignment: Assignment,
    author: AbstractBaseUser,
    label: Label,
    kind: str,
    geometry: object,
    name: str = "",
    comment: str = "",
    uuid: uuid_module.UUID | None = None,
    origin: str = Annotation.Origin.DRAWN,
    origin_detail: dict | None = None,
) -> tuple[Annotation, bool]:
    """Store a new annotation drawn by ``author``; return it and whether it is new.

    A ``uuid`` already stored for the same author and slide returns that annotation unchanged
    (a retried create). The returned annotation's ``repaired`` says what ``geometry.clean``
    repaired or clipped. ``origin`` and ``origin_detail`` say where it started when it was not
    drawn here (a model layer's feature taken into the assignment, an imported file's).
    """
    if origin not in Annotation.Origin.values:
        raise ValueError(f"Unknown annotation origin {origin!r}.")
    permissions.check_can_write(author, assignment)
    # A retry of a create that was stored is answered even when the slide was marked done
    # since: the browser only wants to know that it was saved.
    if uuid is not None and (existing := _existing(uuid, author=author, slide=slide)):
        return existing, False
    _check_slide(author, assignment, slide)
    _check_label(assignment, label)
    _check_text(name, comment)
    annotation = Annotation(
        uuid=uuid or uuid_module.uuid4(),
        slide=slide,
        assignment=assignment,
        author=author,
        label=label,
        kind=kind,
        name=name,
        comment=comment,
        origin=origin,
        origin_detail=origin_detail,
    )
    _apply(annotation, _clean(geometry, kind=kind, slide=slide))
    try:
        with transaction.atomic():
            annotation.save()
    except IntegrityError:
        # The same create, sent twice at once: the other request stored it.
        if uuid is not None and (existing := _existing(uuid, author=author, slide=slide)):
            return existing, False
        raise
    _revise(
        annotation,
        action=AnnotationRevision.Action.CREATE,
        actor=author,
        before=NOTHING,
        after=_state(annotation),
    )
    _cells_add(annotation, 1)
    task_services.work_start(assignment=assignment, slide=slide)
    return annotation, True


def _existing(uuid: uuid_module.UUID, *, author: AbstractBaseUser, slide: Slide):
    annotation = Annotation.objects.filter(uuid=uuid).first()
    if annotation is None:
        return None
    if annotation.author_id != author.pk or annotation.slide_id != slide.pk:
        raise AnnotationError("This uuid belongs to another annotation.", field="uuid")
    annotation.repaired = ""
    return annotation


UNCHANGED = object()


@transaction.atomic
def annotation_update(
    *,
    annotation: Annotation,
    actor: AbstractBaseUser,
    version: int,
    geometry: object = UNCHANGED,
    label: Label | None = None,
    kind: str | None = None,
    name: str | None = None,
    comment: str | None = None,
) -> Annotation:
    """Change what is given of a live annotation at ``version``; its version goes up by one.

    A geometry is cleaned as in annotation_create (and checked against ``kind``, new or old).
    """
    before = _lock(annotation)
    permissions.check_can_write(actor, before.assignment)
    _check_slide(actor, before.assignment, before.slide)
    _check_version(before, version)
    if before.is_deleted:
        raise AnnotationConflict("The annotation is deleted; restore it first.", current=before)
    after = copy.copy(before)
    if label is not None and label.pk != before.label_id:
        _check_label(before.assignment, label)
        after.label = label
    after.kind = kind or before.kind
    after.name = before.name if name is None else name
    after.comment = before.comment if comment is None else comment
    _check_text(after.name, after.comment)
    if geometry is not UNCHANGED or after.kind != before.kind:
        raw = before.geometry if geometry is UNCHANGED else geometry
        _apply(after, _clean(raw, kind=after.kind, slide=before.slide))
    else:
        after.repaired = ""
    after.version = before.version + 1
    # A person's change to what a model (or another tool) drew: exports say so.
    after.origin_changed = before.origin != Annotation.Origin.DRAWN
    after.save()
    _revise(
        after,
        action=AnnotationRevision.Action.UPDATE,
        actor=actor,
        before=_state(before),
        after=_state(after),
    )
    _cells_move(before, after)
    return after


def _set_deleted(
    *, annotation: Annotation, actor: AbstractBaseUser, version: int | None, deleted: bool
) -> Annotation:
    current = _lock(annotation)
    permissions.check_can_write(actor, current.assignment)
    _check_slide(actor, current.assignment, current.slide)
    _check_version(current, version)
    if current.is_deleted == deleted:
        state = "deleted" if deleted else "not deleted"
        raise AnnotationConflict(f"The annotation is already {state}.", current=current)
    current.is_deleted = deleted
    current.version += 1
    current.repaired = ""
    current.save(update_fields=["is_deleted", "version", "updated_at"])
    action = AnnotationRevision.Action.DELETE if deleted else AnnotationRevision.Action.RESTORE
    live = _state(current)
    _revise(
        current,
        action=action,
        actor=actor,
        before=live if deleted else NOTHING,
        after=NOTHING if deleted else live,
    )
    _cells_add(current, -1 if deleted else 1)
    return current


@transaction.atomic
def annotation_delete(
    *, annotation: Annotation, actor: AbstractBaseUser, version: int | None = None
) -> Annotation:
    """Soft-delete: the annotation leaves every view but stays, with its history, for restore."""
    return _set_deleted(annotation=annotation, actor=actor, version=version, deleted=True)


@transaction.atomic
def annotation_restore(
    *, annotation: Annotation, actor: AbstractBaseUser, version: int | None = None
) -> Annotation:
    """Bring a deleted annotation back, with the geometry and label it had."""
    return _set_deleted(annotation=annotation, actor=actor, version=version, deleted=False)


@transaction.atomic
def annotations_bulk_create(
    *,
    slide: Slide,
    assignment: Assignment,
    author: AbstractBaseUser,
    items: Iterable[tuple[Label, str, object]],
    batch_size: int = 2000,
) -> int:
    """Store many (label, kind, geometry) annotations at once, with revisions; return how many.

    The same checks as annotation_create, in batches; the slide's cells are rebuilt once at the
    end. For loaders, not for the editing API.
    """
    permissions.check_can_write(author, assignment)
    _check_slide(author, assignment, slide)
    checked: set[int] = set()
    batch: list[Annotation] = []
    total = 0
    for label, kind, raw in items:
        if label.pk not in checked:
            _check_label(assignment, label)
            checked.add(label.pk)
        annotation = Annotation(
            slide=slide, assignment=assignment, author=author, label=label, kind=kind
        )
        _apply(annotation, _clean(raw, kind=kind, slide=slide))
        batch.append(annotation)
        if len(batch) >= batch_size:
            total += _bulk_save(batch, author)
            batch = []
    total += _bulk_save(batch, author)
    annotation_cells_rebuild(slide=slide)
    if total:
        task_services.work_start(assignment=assignment, slide=slide)
    return total


def _bulk_save(batch: list[Annotation], author: AbstractBaseUser) -> int:
    Annotation.objects.bulk_create(batch)
    AnnotationRevision.objects.bulk_create(
        AnnotationRevision(
            annotation=annotation,
            action=AnnotationRevision.Action.CREATE,
            actor=author,
            version=1,
            geometry_after=annotation.geometry,
            label_after_id=annotation.label_id,
        )
        for annotation in batch
    )
    return len(batch)

"""Writes of layers: an upload stored and its import started, the import itself, a deletion.

An import is one transaction: every feature of the file, its classes' labels (when created)
and its cells, or nothing at all. Rows go to PostgreSQL with ``COPY ... FROM STDIN`` a batch at
a time (psycopg2's ``copy_expert``), which is several times faster than INSERTs of the same
rows; SQLite (the quick start) gets ``bulk_create``. The file is read in batches
(layers.reading), so memory stays bounded whatever its size.

Small files are imported inside the upload's request, so that a bad one is refused there
(400, nothing stored); larger ones by a background job (layers.jobs), whose layer ends READY
or FAILED with the reader's message. ``layer_import_start`` is where that is decided.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from wsi2ml_toolkit import collector
from wsi2ml_toolkit.formats.qupath import class_colour, colour_hex

from annotations import permissions as annotation_permissions
from annotations import services as annotation_services
from annotations.models import Annotation, AnnotationCell
from layers import reading
from layers.models import Layer, LayerCell, LayerFeature
from layers.reading import LayerFileError
from slides.models import Slide
from tasks.models import Assignment, Label, Project
from wsi2ml.api import ApiError

logger = logging.getLogger(__name__)

CREATE, KEEP = "create", "none"  # what to do with a class, besides mapping it to a label id
# Files up to this size are imported in the request: 8 MB of GeoJSON is about 20,000
# detections, under a second's work. Larger ones wait for a worker.
INLINE_IMPORT_BYTES = 8 * 1024 * 1024
NAME_KEY = ("wsi2ml", "layer")  # wsi2ml_toolkit.predictions.LAYER_KEY: the layer's name
COPY_COLUMNS = (
    "layer_id",
    "geometry",
    "nucleus",
    "object_type",
    "class_name",
    "label_id",
    "measurements",
    "properties",
    "score",
    "x0",
    "y0",
    "x1",
    "y1",
)
NULL = "\\N"  # COPY's text format for NULL
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass(frozen=True)
class ImportOptions:
    """What the uploader chose: ``classes`` maps a class name to a label id of the project, to
    CREATE (a new label) or to KEEP (the class name only); a class not named is mapped to the
    project's label of the same name, else created when ``create_missing``, else kept."""

    classes: dict[str, int | str] = field(default_factory=dict)
    create_missing: bool = False
    rename: bool = False  # take the layer's name from the features (NAME_KEY) when they give one

    def to_json(self) -> dict:
        return {
            "classes": self.classes,
            "create_missing": self.create_missing,
            "rename": self.rename,
        }

    @classmethod
    def from_json(cls, value: dict) -> ImportOptions:
        return cls(
            classes=dict(value.get("classes", {})),
            create_missing=bool(value.get("create_missing")),
            rename=bool(value.get("rename")),
        )


# --- Uploading --------------------------------------------------------------------------------


def layer_upload(
    *,
    slide: Slide,
    project: Project,
    upload: UploadedFile,
    name: str,
    kind: str,
    score_name: str,
    options: ImportOptions,
    actor: AbstractBaseUser,
) -> Layer:
    """Store ``upload`` privately, make its Layer on ``slide`` and start its import."""
    path = _store(upload.chunks(), suffix=PurePosixPath(upload.name or "").suffix)
    return _layer_start(
        slide=slide,
        project=project,
        path=path,
        source_name=upload.name or "upload",
        name=name,
        kind=kind,
        score_name=score_name,
        options=options,
        actor=actor,
    )


def layers_upload_zip(
    *,
    project: Project,
    upload: UploadedFile,
    kind: str,
    score_name: str,
    options: ImportOptions,
    actor: AbstractBaseUser,
) -> tuple[list[Layer], list[dict]]:
    """One layer per file of the zip ``upload`` that names a slide of ``project`` (by the
    slide's file name without its extension, or its OpenSlide fingerprint); return them and
    the files matching no slide, each with why."""
    slides = Slide.objects.filter(task_slides__task__project=project).distinct()
    by_stem: dict[str, list[Slide]] = {}
    by_hash = {slide.quickhash: slide for slide in slides if slide.quickhash}
    for slide in slides:
        by_stem.setdefault(PurePosixPath(slide.name).stem.casefold(), []).append(slide)
    layers, unmatched = [], []
    with _open_zip(upload) as archive, _removed_on_failure() as stored:
        for member in _members(archive):
            stem = PurePosixPath(member.filename).stem
            found = by_hash.get(stem) or by_hash.get(stem.split(".")[0])
            candidates = [found] if found else by_stem.get(stem.casefold(), [])
            if len(candidates) != 1:
                why = "no slide of the project" if not candidates else "several slides"
                unmatched.append({"file": member.filename, "reason": f"matches {why}"})
                continue
            with archive.open(member) as source:
                path = _store(iter(lambda: source.read(1024 * 1024), b""), suffix=".member")
            stored.append(path)
            layers.append(
                _layer_start(
                    slide=candidates[0],
                    project=project,
                    path=path,
                    source_name=PurePosixPath(member.filename).name,
                    name=stem,
                    kind=kind,
                    score_name=score_name,
                    options=options,
                    actor=actor,
                )
            )
    if not layers:
        raise LayerFileError(
            f"{upload.name}: no file in it names a slide of the project (by the slide's file "
            "name or its fingerprint)."
        )
    return layers, unmatched


@contextmanager
def _removed_on_failure():
    """A list of stored files, removed if what follows fails: the layers queued for them are
    rolled back with the request."""
    stored: list[Path] = []
    try:
        yield stored
    except BaseException:
        for path in stored:
            path.unlink(missing_ok=True)
        raise


def _open_zip(upload: UploadedFile) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(upload)
        total = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise LayerFileError(f"{upload.name}: not a readable zip file ({exc}).") from None
    limit = settings.LAYER_UPLOAD_MAX_MB * 1024 * 1024
    if total > limit:
        raise LayerFileError(
            f"{upload.name}: its files hold {total / 2**20:,.0f} MB once unpacked; at most "
            f"{settings.LAYER_UPLOAD_MAX_MB:,} MB are taken.",
            status=413,
        )
    return archive


def _members(archive: zipfile.ZipFile) -> Iterable[zipfile.ZipInfo]:
    for member in archive.infolist():
        path = PurePosixPath(member.filename)
        if member.is_dir() or path.name.startswith(".") or "__MACOSX" in path.parts:
            continue
        yield member


def _store(chunks: Iterable[bytes], *, suffix: str) -> Path:
    folder = Path(settings.LAYER_UPLOAD_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    clean_suffix = suffix if suffix.isascii() and suffix[1:].isalnum() else ""
    path = folder / f"{uuid.uuid4().hex}{clean_suffix[:12]}"
    with open(path, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return path


def _layer_start(*, path: Path, options: ImportOptions, **fields) -> Layer:
    """Make the layer of the stored file ``path`` and start its import; remove the file
    when either fails, so that nothing is left of a refused upload."""
    try:
        fields["format"] = reading.file_format(path, name=fields["source_name"])
        fields["uploaded_by"] = fields.pop("actor")
        layer = Layer.objects.create(**fields)
        return layer_import_start(layer=layer, path=path, options=options)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def layer_import_start(*, layer: Layer, path: Path, options: ImportOptions) -> Layer:
    """Import ``path`` into ``layer`` now (a small file) or in a background job."""
    if path.stat().st_size <= INLINE_IMPORT_BYTES:
        try:
            return layer_import(layer=layer, path=path, options=options)
        finally:
            path.unlink(missing_ok=True)
    from layers.jobs import import_job_start  # jobs imports these services

    return import_job_start(layer=layer, path=path, options=options)


# --- Importing --------------------------------------------------------------------------------


def layer_import(
    *,
    layer: Layer,
    path: Path,
    options: ImportOptions,
    progress: Callable[[int], object] | None = None,
) -> Layer:
    """Read ``path`` into ``layer``'s features in one transaction; LayerFileError, storing
    nothing, for a file with a bad feature (named) or a class mapping that cannot be done.

    ``progress(done)`` is called after each batch with how many features are stored. Run
    again after an interruption, it starts afresh: nothing of the first run was committed.
    """
    Layer.objects.filter(pk=layer.pk).update(state=Layer.State.IMPORTING, message="")
    with transaction.atomic():
        locked = Layer.objects.select_for_update().filter(pk=layer.pk).first()
        if locked is None:
            raise LayerFileError("The layer was deleted before its import began.")
        summary = _Import(layer=locked, options=options)
        # Each batch makes tens of thousands of containers and no cycles: at the collector's
        # default thresholds its passes cost more than the reading (wsi2ml_toolkit.collector).
        with collector.spaced():
            for start, features, base in reading.features_of(path, name=locked.source_name):
                summary.add(start, features, base)
                if progress is not None:
                    progress(summary.count)
        summary.finish()
    return summary.layer


def layer_fail(*, layer: Layer, message: str) -> None:
    """Record that the layer's import failed, and why (its features are none)."""
    Layer.objects.filter(pk=layer.pk).update(state=Layer.State.FAILED, message=message)


class _Import:
    """One import's state: the labels its classes map to, the counts it keeps."""

    def __init__(self, *, layer: Layer, options: ImportOptions):
        self.layer = layer
        self.options = options
        self.count = 0
        self.labels: dict[str, int | None] = {}
        self.created: set[str] = set()
        self.colours: dict[str, tuple[int, int, int]] = {}
        self.classes: Counter[str] = Counter()
        self.ranges: dict[str, list[float]] = {}
        self.cells: Counter[tuple[str, int, int]] = Counter()
        self.project_labels = {label.name: label for label in layer.project.labels.all()}
        self.folded = {name.casefold(): label for name, label in self.project_labels.items()}
        self.size = (layer.slide.width, layer.slide.height)
        self.copy = connection.vendor == "postgresql"
        # A rerun (a worker stopped mid-import) starts from nothing.
        LayerCell.objects.filter(layer=layer).delete()
        LayerFeature.objects.filter(layer=layer).delete()

    def add(self, start: int, features: list, base: str | None) -> None:
        if start == 0 and self.options.rename and features:
            self._rename(features[0].properties)
        rows = reading.rows_of(
            features,
            start=start,
            name=self.layer.source_name,
            base=base,
            size=self.size,
            score_name=self.layer.score_name,
            max_properties=settings.LAYER_MAX_PROPERTIES_BYTES,
        )
        for name, colour in rows.colours.items():
            self.colours.setdefault(name, colour)
        label_ids = [self._label_id(name) for name in rows.class_name]
        self.classes.update(rows.class_name)
        self._ranges(rows.ranges)
        self._cells(rows)
        if self.copy:
            _copy_rows(self.layer.pk, rows, label_ids)
        else:
            _create_rows(self.layer.pk, rows, label_ids)
        self.count += len(rows)

    def _rename(self, properties: dict) -> None:
        value = properties.get(NAME_KEY[0])
        name = value.get(NAME_KEY[1]) if isinstance(value, dict) else None
        if isinstance(name, str) and name.strip():
            self.layer.name = name.strip()[: Layer._meta.get_field("name").max_length]

    def _label_id(self, name: str) -> int | None:
        if name in self.labels:
            return self.labels[name]
        label_id = None
        if name:
            label_id = self._label_for(name)
        self.labels[name] = label_id
        return label_id

    def _label_for(self, name: str) -> int | None:
        chosen = self.options.classes.get(name)
        if isinstance(chosen, int):
            return chosen  # checked to be the project's when the upload was taken
        if chosen == KEEP:
            return None
        same = self.project_labels.get(name) or self.folded.get(name.casefold())
        if chosen != CREATE and same is not None:
            return same.pk
        if chosen == CREATE or self.options.create_missing:
            if same is not None:
                return same.pk
            return self._create_label(name)
        return None

    def _create_label(self, name: str) -> int | None:
        if len(name) > Label._meta.get_field("name").max_length:
            return None  # too long for a label's name: kept as the class name
        colour = self.colours.get(name) or class_colour(name)
        order = (self.layer.project.labels.aggregate(top=Max("order"))["top"] or 0) + 1
        label = Label.objects.create(
            project=self.layer.project, name=name, colour=colour_hex(colour), order=order
        )
        self.project_labels[name] = label
        self.folded[name.casefold()] = label
        self.created.add(name)
        return label.pk

    def _ranges(self, ranges: dict[str, list[float]]) -> None:
        for name, (low, high) in ranges.items():
            known = self.ranges.setdefault(name, [low, high])
            known[0], known[1] = min(known[0], low), max(known[1], high)

    def _cells(self, rows: reading.Rows) -> None:
        size = AnnotationCell.CELL_SIZE
        gx = ((rows.bounds[:, 0] + rows.bounds[:, 2]) / 2 // size).astype(int).tolist()
        gy = ((rows.bounds[:, 1] + rows.bounds[:, 3]) / 2 // size).astype(int).tolist()
        self.cells.update(zip(rows.class_name, gx, gy, strict=True))

    def finish(self) -> None:
        LayerCell.objects.bulk_create(
            [
                LayerCell(layer=self.layer, class_name=name, gx=gx, gy=gy, count=n)
                for (name, gx, gy), n in self.cells.items()
            ],
            batch_size=5000,
        )
        layer = self.layer
        layer.feature_count = self.count
        layer.classes = self._classes()
        layer.measurements = [
            {"name": name, "min": low, "max": high}
            for name, (low, high) in sorted(self.ranges.items())
        ]
        layer.state = Layer.State.READY
        layer.message = f"Imported {self.count:,} features."
        layer.imported_at = timezone.now()
        layer.save()

    def _classes(self) -> list[dict]:
        labels = {label.pk: label for label in self.project_labels.values()}
        out = []
        for name, count in sorted(self.classes.items()):
            label = labels.get(self.labels.get(name))
            colour = (
                label.colour
                if label
                else colour_hex(self.colours.get(name) or class_colour(name or "unclassified"))
            )
            out.append(
                {
                    "name": name,
                    "label": label.pk if label else None,
                    "created": name in self.created,
                    "colour": colour,
                    "count": count,
                }
            )
        return out


def _copy_rows(layer_id: int, rows: reading.Rows, label_ids: list[int | None]) -> None:
    """COPY one batch of rows into LayerFeature's table (text format)."""
    lines = []
    bounds = rows.bounds.tolist()
    for i, (x0, y0, x1, y1) in enumerate(bounds):
        nucleus = rows.nucleus[i]
        label_id = label_ids[i]
        score = rows.score[i]
        lines.append(
            f"{layer_id}\t{rows.geometry[i]}\t{NULL if nucleus is None else nucleus}\t"
            f"{rows.object_type[i]}\t{_copy_text(rows.class_name[i])}\t"
            f"{NULL if label_id is None else label_id}\t"
            f"{_copy_text(rows.measurements[i])}\t{_copy_text(rows.properties[i])}\t"
            f"{NULL if score is None else score}\t{x0}\t{y0}\t{x1}\t{y1}\n"
        )
    table = connection.ops.quote_name(LayerFeature._meta.db_table)
    sql = f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor:
        cursor.copy_expert(sql, io.StringIO("".join(lines)))


def _copy_text(value: str) -> str:
    """``value`` as a field of COPY's text format: backslash, tab and line ends escaped."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def _create_rows(layer_id: int, rows: reading.Rows, label_ids: list[int | None]) -> None:
    """Insert one batch through the ORM (SQLite), whose JSON fields take values, not texts."""
    LayerFeature.objects.bulk_create(
        [
            LayerFeature(
                layer_id=layer_id,
                geometry=json.loads(rows.geometry[i]),
                nucleus=None if rows.nucleus[i] is None else json.loads(rows.nucleus[i]),
                object_type=rows.object_type[i],
                class_name=rows.class_name[i],
                label_id=label_ids[i],
                measurements=json.loads(rows.measurements[i]),
                properties=json.loads(rows.properties[i]),
                score=rows.score[i],
                x0=x0,
                y0=y0,
                x1=x1,
                y1=y1,
            )
            for i, (x0, y0, x1, y1) in enumerate(rows.bounds.tolist())
        ],
        batch_size=500,
    )


# --- Mapping classes to labels ----------------------------------------------------------------

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def layer_classes_map(
    *, layer: Layer, mapping: dict[str, int | str], actor: AbstractBaseUser
) -> Layer:
    """Map each class named in ``mapping`` to a label of the layer's project (its id), to a
    label named after it (CREATE: the project's label of that name, else a new one in the
    class's colour) or to none (KEEP), in one transaction: its features' label in one UPDATE
    per class that changes, and ``layer.classes`` with them.

    ApiError, changing nothing: 400 for a class the layer does not have, a label id that is
    not one of the project's active labels or a class that cannot name a label; 409 while the
    layer is not ready (its import would write over the mapping).
    """
    with transaction.atomic():
        locked = Layer.objects.select_for_update(of=("self",)).select_related("project")
        locked = locked.get(pk=layer.pk)
        if locked.state != Layer.State.READY:
            raise ApiError(
                f"The layer is {locked.get_state_display().lower()}: map its classes once "
                "it is ready.",
                status=409,
            )
        entries = {entry["name"]: entry for entry in locked.classes}
        labels = {label.pk: label for label in locked.project.labels.active()}
        chosen = {name: _choice(name, value, entries, labels) for name, value in mapping.items()}
        for name, choice in chosen.items():
            label = _class_label(locked.project, entries[name]) if choice == CREATE else choice
            _class_relabel(locked, entries[name], label)
        locked.save(update_fields=["classes"])
    logger.info("layer %s: classes %s mapped by %s", locked.pk, sorted(chosen), actor.pk)
    return locked


def _choice(
    name: str, value: int | str, entries: dict[str, dict], labels: dict[int, Label]
) -> Label | str | None:
    """The label ``value`` names for the class ``name``, CREATE, or None for KEEP."""
    if name not in entries:
        raise ApiError(f"The layer has no class “{name[:200]}”.", field=f"classes.{name[:200]}")
    if value == KEEP:
        return None
    if value == CREATE:
        if not name or len(name) > Label._meta.get_field("name").max_length:
            why = "unclassified features" if not name else "a class name this long"
            raise ApiError(
                f"No label can be named after {why}: map it to one of the project's labels.",
                field=f"classes.{name[:200]}",
            )
        return CREATE
    if isinstance(value, int) and not isinstance(value, bool) and value in labels:
        return labels[value]
    raise ApiError(
        f"classes.{name[:200]} must be the id of one of the project's labels, “{CREATE}” or "
        f"“{KEEP}”.",
        field=f"classes.{name[:200]}",
    )


def _class_label(project: Project, entry: dict) -> Label:
    """The project's label named like the class (in any case), else a new one in its colour."""
    name = entry["name"]
    same = project.labels.active().filter(name__iexact=name).order_by("pk").first()
    if same is not None:
        return same
    colour = entry.get("classColour") or entry.get("colour") or ""
    if not HEX_COLOUR.match(colour):
        colour = colour_hex(class_colour(name))
    order = (project.labels.aggregate(top=Max("order"))["top"] or 0) + 1
    label, _ = Label.objects.get_or_create(
        project=project, name=name, defaults={"colour": colour, "order": order}
    )
    entry["created"] = True
    return label


def _class_relabel(layer: Layer, entry: dict, label: Label | None) -> None:
    """Give the class's features ``label`` and its entry the label's colour (or, unmapped, the
    class's own colour back)."""
    label_id = label.pk if label else None
    if entry.get("label") == label_id:
        return
    # PostgreSQL rewrites each row with its index entries: 38,000 features of one class (in a
    # layer of 114,000) took 0.6 to 0.9 s, so the classes of a million-feature layer take
    # some seconds each. A class already so mapped is skipped above.
    LayerFeature.objects.filter(layer=layer, class_name=entry["name"]).update(label=label_id)
    if "classColour" not in entry:
        # A class mapped by the import took its label's colour: the file's is not kept.
        own = entry.get("colour") if entry.get("label") is None else None
        entry["classColour"] = own or colour_hex(class_colour(entry["name"] or "unclassified"))
    entry["label"] = label_id
    entry["colour"] = label.colour if label else entry["classColour"]


# --- Deleting ---------------------------------------------------------------------------------


@transaction.atomic
def layer_delete(*, layer: Layer) -> None:
    """Delete the layer with its features and cells (waiting for an import under way)."""
    Layer.objects.select_for_update().filter(pk=layer.pk).first()
    LayerCell.objects.filter(layer=layer).delete()
    LayerFeature.objects.filter(layer=layer).delete()
    Layer.objects.filter(pk=layer.pk).delete()
    logger.info("layer %s (%s) of slide %s deleted", layer.pk, layer.name, layer.slide_id)


# --- Promoting a feature into an annotation ---------------------------------------------------

# The annotation kind a feature's shape becomes. MultiPolygons are polygon annotations (the
# toolkit's geometry rules take them for every polygonal kind); MultiPoints and MultiLineStrings
# have no kind to become.
PROMOTED_KINDS = {
    "Polygon": Annotation.Kind.POLYGON,
    "MultiPolygon": Annotation.Kind.POLYGON,
    "Point": Annotation.Kind.POINT,
    "LineString": Annotation.Kind.LINE,
}
# The namespace of promoted annotations' uuids (uuid5 of feature, assignment and person).
PROMOTED_UUIDS = uuid.UUID("7d3f9a52-5a57-4d0e-9a3c-2f1b6f0c4e11")


class PromoteError(ApiError):
    """A feature that cannot become an annotation as asked (400)."""


def feature_promote(
    *,
    feature: LayerFeature,
    assignment: Assignment,
    actor: AbstractBaseUser,
    label: Label | None = None,
) -> tuple[Annotation, bool]:
    """Copy ``feature`` into ``assignment`` as ``actor``'s own annotation, saying where it came
    from (``origin`` model or imported, ``origin_detail`` the layer, feature, class and
    measurements); return it and whether it is new.

    Labelled ``label``, else the label the feature's class was mapped to when it is one of the
    assignment's project; PromoteError (400) when there is neither, or for a shape no annotation
    takes. The same feature taken twice into the same assignment by the same person is one
    annotation (a double click, a retry): the second time returns it, restored if deleted.
    """
    annotation_permissions.check_can_write(actor, assignment)
    layer = feature.layer
    geometry = _stored_json(feature.geometry)
    kind = PROMOTED_KINDS.get(geometry.get("type") if isinstance(geometry, dict) else None)
    if kind is None:
        raise PromoteError(
            f"A {geometry.get('type', 'shape')} cannot become an annotation: annotations are "
            "Polygons, MultiPolygons, Points or LineStrings.",
            field="feature",
        )
    chosen = label or _mapped_label(feature, assignment)
    key = uuid.uuid5(PROMOTED_UUIDS, f"{feature.pk}/{assignment.pk}/{actor.pk}")
    annotation, created = annotation_services.annotation_create(
        slide=layer.slide,
        assignment=assignment,
        author=actor,
        label=chosen,
        kind=kind,
        geometry=geometry,
        uuid=key,
        origin=(
            Annotation.Origin.MODEL
            if layer.kind == Layer.Kind.PREDICTIONS
            else Annotation.Origin.IMPORTED
        ),
        origin_detail={
            "layer": layer.pk,
            "layerName": layer.name,
            "feature": feature.pk,
            "class": feature.class_name,
            "measurements": _stored_json(feature.measurements),
            "score": feature.score,
        },
    )
    if not created and annotation.is_deleted:
        annotation = annotation_services.annotation_restore(annotation=annotation, actor=actor)
    return annotation, created


def _mapped_label(feature: LayerFeature, assignment: Assignment) -> Label:
    """The label the feature's class was mapped to, if the assignment's project has it."""
    label = feature.label
    if label is None or label.project_id != assignment.task.project_id:
        raise PromoteError(
            f"This feature's class “{feature.class_name or 'none'}” is mapped to none of the "
            "task's labels: choose a label.",
            field="label",
        )
    return label


def _stored_json(value):
    """A json column's value (psycopg2 parses json columns; SQLite gives text)."""
    return json.loads(value) if isinstance(value, str) else value

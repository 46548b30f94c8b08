"""The export's two reads for databases other than PostgreSQL (the quick start's SQLite).

``exports.rows`` and the plan's counts are PostgreSQL SQL (casts, ``FILTER``, arrays,
``to_char``), written for a million rows. Here the same records, in the same column order, come
from the ORM, with each slide's current verdicts summed in Python: slower, and fine at the size
a quick start holds. ``exports.selectors`` picks one or the other by the connection's vendor, so
the policy, the writer and the tests see one record layout.
"""

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from annotations.models import Annotation
from exports.rows import REVIEW_KIND, ExportSlide
from review.models import Verdict

FETCH_ROWS = 2000


def _summaries(slide_ids: Sequence[int]) -> dict[int, list]:
    """{annotation id: [verdicts, agree, wrong_label, wrong_region, reject, wrong label ids,
    latest correction]} from the current verdicts on these slides."""
    found: dict[int, list] = defaultdict(lambda: [0, 0, 0, 0, 0, [], None])
    verdicts = (
        Verdict.objects.current()
        .filter(annotation__slide_id__in=list(slide_ids))
        .order_by("created_at", "id")  # the last correction seen is the latest
        .values_list("annotation_id", "kind", "label_id", "geometry")
    )
    column = {"agree": 1, "wrong_label": 2, "wrong_region": 3, "reject": 4}
    for annotation_id, kind, label_id, geometry in verdicts.iterator(chunk_size=FETCH_ROWS):
        summary = found[annotation_id]
        summary[0] += 1
        summary[column[kind]] += 1
        if kind == "wrong_label":
            summary[5].append(label_id)
        elif kind == "wrong_region":
            summary[6] = geometry if isinstance(geometry, str) else json.dumps(geometry)
    return found


def _annotations(work: Sequence[tuple[int, int]]):
    """Live annotations of the (assignment, slide) pairs, in id order."""
    if not work:
        return Annotation.objects.none()
    pairs = defaultdict(list)
    for assignment_id, slide_id in work:
        pairs[slide_id].append(assignment_id)
    chosen = Annotation.objects.none()
    for slide_id, assignments in pairs.items():
        chosen = chosen | Annotation.objects.filter(
            slide_id=slide_id, assignment_id__in=assignments
        )
    return chosen.filter(is_deleted=False).order_by("id")


def records(*, slide: ExportSlide) -> Iterator[tuple]:
    """The records ``exports.rows.rows_sql`` gives for ``slide``, in the same column order."""
    summaries = _summaries([slide.id])
    columns = (
        "id", "uuid", "kind", "geometry", "label_id", "name", "author__username",
        "assignment_id", "assignment__task_id", "created_at", "updated_at", "area_um2",
        "length_um", "assignment__task__kind", "origin", "origin_detail", "origin_changed",
    )  # fmt: skip
    found = _annotations([(a, slide.id) for a in slide.assignments]).values_list(*columns)
    for row in found.iterator(chunk_size=FETCH_ROWS):
        pk, uuid, kind, geometry, label, name, author, assignment, task, created, updated = row[:11]
        summary = summaries.get(pk)
        verdicts = summary[:5] if summary else [0, None, None, None, None]
        labels = sorted(summary[5]) if summary and summary[5] else None
        yield (
            pk, str(uuid), kind, geometry if isinstance(geometry, str) else json.dumps(geometry),
            label, name, author, assignment, task, _iso(created), _iso(updated), row[11],
            row[12], row[13] == REVIEW_KIND, *verdicts, labels, summary[6] if summary else None,
            *_origin(row[14], row[15], row[16]),
        )  # fmt: skip


def _origin(origin: str, detail, changed: bool) -> tuple:
    """The record's origin columns, as rows_sql gives them: nothing but the origin when drawn."""
    if origin == Annotation.Origin.DRAWN:
        return origin, None, None
    return origin, None if detail is None else json.dumps(detail), changed


def counts(*, work: Sequence[tuple[int, int]]) -> list[tuple]:
    """The groups the plan's counting query gives: (slide, label, missed region, agree,
    wrong_region, reject, wrong label ids, count)."""
    summaries = _summaries(sorted({slide for _, slide in work}))
    groups: dict[tuple, int] = defaultdict(int)
    found = _annotations(work).values_list("id", "slide_id", "label_id", "assignment__task__kind")
    for pk, slide_id, label, task_kind in found.iterator(chunk_size=FETCH_ROWS):
        summary = summaries.get(pk)
        agree, wrong_region, reject = (summary[1], summary[3], summary[4]) if summary else (0, 0, 0)
        labels = tuple(sorted(summary[5])) if summary and summary[5] else None
        key = (slide_id, label, task_kind == REVIEW_KIND, agree, wrong_region, reject, labels)
        groups[key] += 1
    return [(*key, n) for key, n in groups.items()]


def _iso(moment: datetime) -> str:
    """As PostgreSQL's to_char in exports.rows: UTC, milliseconds, Z."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )

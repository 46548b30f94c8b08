"""The rows of an export: what it holds per slide and class, the SQL that reads one slide's
annotations, and the turning of each record into an ``ExportRow`` with the policy applied.

Plain Python (no Django): the benchmark runs ``rows_sql`` with a raw psycopg2 server-side
cursor and ``row_from_record`` as the in-process ceiling, and ``exports.selectors`` runs the
same through Django's connection. Per-row work is kept minimal, since a million rows go through
here: geometries stay JSON text from the database to the writer (the column is ``json``, text
inside), times are formatted by PostgreSQL, and shapely runs only for a reviewer's corrected
region, whose measures nobody stored.
"""

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import shapely

from annotations.geometry import measures
from exports.policy import Policy

# The database tables, as Django names them; exports.selectors passes the names its models
# have, so that a renamed table cannot go unnoticed.
TABLES = {
    "annotation": "annotations_annotation",
    "assignment": "tasks_assignment",
    "task": "tasks_task",
    "user": "auth_user",
    "username": "username",  # the user table's USERNAME_FIELD column
    "verdict": "review_verdict",
}
REVIEW_KIND = "review"  # tasks.Task.Kind.REVIEW: its assignments hold missed regions


class ExportRow(NamedTuple):
    """One exported annotation, final: geometry, label and measures as the policy makes them.

    ``geometry`` is GeoJSON text in level-0 pixels; ``perimeter_um`` is a region's perimeter or a
    line's length (None without the slide's resolution). Times are UTC ISO 8601 with
    milliseconds.
    """

    annotation_id: int
    uuid: str
    kind: str
    geometry: str
    class_index: int
    label_id: int
    original_label_id: int
    name: str
    author: str
    assignment_id: int
    task_id: int
    created_at: str
    updated_at: str
    area_um2: float | None
    perimeter_um: float | None
    verdicts: dict
    agreement: float | None
    consensus_label_id: int | None
    corrected: bool
    missed_region: bool
    # Where it started when it was not drawn here (annotations.models.Annotation.Origin), what
    # it came from (JSON text) and whether a person has changed it since; None for drawn ones.
    origin: str = "drawn"
    origin_detail: str | None = None
    changed_since_origin: bool | None = None


@dataclass
class ExportSlide:
    """A slide of the export with the facts the manifest gives, its unique file stem, the
    number of features the plan counts on it, and the assignments whose work it exports."""

    id: int
    path: str
    name: str
    quickhash: str
    width: int | None
    height: int | None
    mpp_x: float | None
    mpp_y: float | None
    objective_power: float | None
    bounds: tuple[int, int, int, int] | None
    stem: str
    features: int = 0
    assignments: tuple[int, ...] = ()


@dataclass
class ExportClass:
    """An export class: index 1..n (0 is a mask's background), name, colour and its labels."""

    index: int
    name: str
    colour: str
    label_ids: tuple[int, ...]


# Verdicts are aggregated per annotation on the slide before the join, in one pass over the
# slide's current verdicts, rather than by a subquery per annotation: a million annotations
# would be a million index probes. ``%(slide)s`` is cast to the column's bigint.
_ROWS_SQL = """
SELECT a.id, a.uuid::text, a.kind, a.geometry::text, a.label_id, a.name, u.{username},
    a.assignment_id, w.task_id,
    to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    to_char(a.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    a.area_um2, a.length_um, t.kind = '{review}',
    COALESCE(v.verdicts, 0), v.agree, v.wrong_label, v.wrong_region, v.reject,
    v.wrong_labels, v.correction,
    a.origin,
    CASE WHEN a.origin <> 'drawn' THEN a.origin_detail::text END,
    CASE WHEN a.origin <> 'drawn' THEN a.origin_changed END
FROM {annotation} a
JOIN {assignment} w ON w.id = a.assignment_id
JOIN {task} t ON t.id = w.task_id
JOIN {user} u ON u.id = a.author_id
LEFT JOIN (
    SELECT v.annotation_id,
        count(*) AS verdicts,
        count(*) FILTER (WHERE v.kind = 'agree') AS agree,
        count(*) FILTER (WHERE v.kind = 'wrong_label') AS wrong_label,
        count(*) FILTER (WHERE v.kind = 'wrong_region') AS wrong_region,
        count(*) FILTER (WHERE v.kind = 'reject') AS reject,
        array_agg(v.label_id ORDER BY v.label_id) FILTER (WHERE v.kind = 'wrong_label')
            AS wrong_labels,
        (array_agg(v.geometry::text ORDER BY v.created_at DESC, v.id DESC)
            FILTER (WHERE v.kind = 'wrong_region'))[1] AS correction
    FROM {verdict} v
    JOIN {annotation} va ON va.id = v.annotation_id
    WHERE v.is_current AND va.slide_id = %(slide)s::bigint
    GROUP BY v.annotation_id
) v ON v.annotation_id = a.id
WHERE a.slide_id = %(slide)s::bigint AND NOT a.is_deleted
    AND a.assignment_id = ANY(%(assignments)s::bigint[])
ORDER BY a.id
"""


def rows_sql(*, tables: Mapping[str, str] = TABLES) -> str:
    """The query of one slide's exported annotations, ordered by id; parameters
    ``rows_params``. Its records are what ``row_from_record`` takes."""
    return _ROWS_SQL.format(review=REVIEW_KIND, **tables)


def prefetched(fetch: Callable[[], Sequence[tuple]]) -> Iterator[Sequence[tuple]]:
    """Yield ``fetch()``'s batches until one is empty, fetching the next in a thread while the
    caller works on this one.

    A server-side cursor computes rows only when asked for them, so fetching and writing one
    after the other leaves the database idle while Python writes and Python idle while the
    database reads. Two slides of 100,100 rows through the writer took 6.0-6.5 s one after the
    other, 5.2-5.5 s with the next batch fetched meanwhile. The cursor is only ever used by
    one thread at a time; when the caller stops early the fetch under way is awaited.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-fetch") as pool:
        pending = pool.submit(fetch)
        while batch := pending.result():
            pending = pool.submit(fetch)
            yield batch


def rows_params(*, slide: ExportSlide) -> dict:
    return {"slide": slide.id, "assignments": list(slide.assignments)}


def row_from_record(
    record: tuple,
    *,
    policy: Policy,
    mpp_x: float | None,
    mpp_y: float | None,
    dropped: Counter | None = None,
) -> ExportRow | None:
    """The ExportRow of a record of ``rows_sql`` under ``policy`` (``mpp_x``, ``mpp_y``: the
    slide's, to measure corrected regions); None when the policy drops it, counted by reason
    (exports.policy.DROP_REASONS) in ``dropped`` when given."""
    own = record[_LABEL]
    if not record[_VERDICTS] and not record[_MISSED]:
        # Most annotations of a large project have no verdict: no judgement, no shapely, the
        # row made of slices of the record (2.7 µs a row here, against 4.7 µs with the record
        # unpacked into names and ExportRow(...) called).
        index = policy.class_of.get(own)
        if policy.drops_unreviewed or index is None:
            if dropped is not None:
                dropped[_unreviewed_reason(policy, own)] += 1
            return None
        return _new_row(
            (*record[:_LABEL], index, own, own, *record[_NAME:_MISSED], _NO_VERDICTS.copy(),
             None, None, False, False, *record[_ORIGIN:])
        )  # fmt: skip
    (agree, wrong_label, wrong_region, reject, wrong_labels, correction) = record[_AGREE:_ORIGIN]
    missed = record[_MISSED]
    judgement = policy.judge_cached(
        own_label=own,
        agree=agree or 0,
        wrong_labels=tuple(wrong_labels or ()),
        wrong_region=wrong_region or 0,
        reject=reject or 0,
        missed=missed,
    )
    if judgement.reason is not None:
        if dropped is not None:
            dropped[judgement.reason] += 1
        return None
    head, area, length = record[:_LABEL], record[_AREA], record[_LENGTH]
    corrected = policy.apply_corrections and correction is not None
    if corrected:
        head = (*head[:_GEOMETRY], correction)
        area, length = measure(correction, mpp_x=mpp_x, mpp_y=mpp_y)
    verdicts = {
        "agree": agree or 0,
        "wrong_label": wrong_label or 0,
        "wrong_region": wrong_region or 0,
        "reject": reject or 0,
    }
    return _new_row(
        (*head, judgement.class_index, judgement.label, own, *record[_NAME:_AREA], area, length,
         verdicts, judgement.agreement, judgement.consensus_label, corrected, missed,
         *record[_ORIGIN:])
    )  # fmt: skip


def _unreviewed_reason(policy: Policy, own_label: int) -> str:
    """Why ``policy`` drops an annotation without verdicts, as the plan's counts say it."""
    judgement = policy.judge_cached(
        own_label=own_label, agree=0, wrong_labels=(), wrong_region=0, reject=0, missed=False
    )
    return judgement.reason


# Positions in a record of rows_sql.
_GEOMETRY, _LABEL, _NAME, _AREA, _LENGTH, _MISSED, _VERDICTS, _AGREE = 3, 4, 5, 11, 12, 13, 14, 15
_ORIGIN = 21
_NO_VERDICTS = {"agree": 0, "wrong_label": 0, "wrong_region": 0, "reject": 0}
# ExportRow's own constructor is a Python function taking each field as an argument; making the
# tuple from slices of the record costs about a third less per row.
_new_row = partial(tuple.__new__, ExportRow)


def measure(
    geometry: str, *, mpp_x: float | None, mpp_y: float | None
) -> tuple[float | None, float | None]:
    """Area (µm²) and perimeter (µm; a line's length) of GeoJSON text, measured as
    annotations.geometry measures what it stores (None without the slide's resolution)."""
    _, area_um2, _, length_um = measures(shapely.from_geojson(geometry), mpp_x, mpp_y)
    return area_um2, length_um

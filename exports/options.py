"""What one export holds: the options of the export page and of the API, read from a query string.

The query parameter names are an interface: scripts rely on them (see the README). Ids come
comma-separated; booleans as 0/1; ``class_<label id>=<name>`` renames a label in the export,
and the same name on two labels merges them into one class.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import QueryDict

from slides.converters import parse_number
from slides.models import Slide
from tasks.models import Assignment, Label, Project, Task
from wsi2ml.api import ApiError, parse_float

POLICIES = ("all", "reviewed", "not_rejected", "consensus")
CLASS_PREFIX = "class_"
ID_LISTS = ("tasks", "slides", "labels", "annotators")
KNOWN = (
    *ID_LISTS,
    "include_in_progress",
    "policy",
    "min_agreement",
    "apply_corrections",
    f"{CLASS_PREFIX}<label id>",
    "mask_mpp",
)
CLASS_NAME_MAX = 100  # as Label.name
MAX_IDS = 10_000  # per list: more than any project's tasks or labels, bounded for the query


@dataclass(frozen=True)
class ExportOptions:
    """The choices of one export, checked against its project (see ``options_parse``).

    Id tuples are sorted and hold each id once; empty means "all". ``classes`` holds
    (label id, class name) pairs sorted by label id, only for labels given another name than
    their own; a label named as another label (or as another renamed one) joins its class.
    """

    project_id: int
    tasks: tuple[int, ...] = ()
    slides: tuple[int, ...] = ()
    labels: tuple[int, ...] = ()
    annotators: tuple[int, ...] = ()
    include_in_progress: bool = False
    policy: str = "all"
    min_agreement: float | None = None
    apply_corrections: bool = False
    classes: tuple[tuple[int, str], ...] = ()
    mask_mpp: float | None = None

    def query(self) -> dict[str, str]:
        """The canonical query parameters: defaults left out, so equal options give equal text
        (the export history compares and replays them)."""
        query = {
            name: ",".join(map(str, getattr(self, name)))
            for name in ID_LISTS
            if getattr(self, name)
        }
        if self.include_in_progress:
            query["include_in_progress"] = "1"
        if self.policy != "all":
            query["policy"] = self.policy
        if self.min_agreement is not None:
            query["min_agreement"] = _number_text(self.min_agreement)
        if self.apply_corrections:
            query["apply_corrections"] = "1"
        for label_id, name in self.classes:
            query[f"{CLASS_PREFIX}{label_id}"] = name
        if self.mask_mpp is not None:
            query["mask_mpp"] = _number_text(self.mask_mpp)
        return query

    def query_string(self) -> str:
        return urlencode(self.query())


def options_parse(*, project: Project, query: QueryDict) -> ExportOptions:
    """Read and check the export options in ``query`` for ``project``.

    Raise ``ApiError`` (400, ``field`` set) for an unknown parameter, a malformed value, or an
    id that is not of this project; the message never tells whether the id exists elsewhere.
    An empty value counts as the parameter left out.
    """
    _check_names(query)
    values = {name: _id_list(query, name) for name in ID_LISTS}
    _check_ids(values["tasks"], Task.objects.filter(project=project), "task")
    _check_ids(values["slides"], Slide.objects.filter(task_slides__task__project=project), "slide")
    _check_ids(values["labels"], Label.objects.filter(project=project), "label")
    workers = Assignment.objects.filter(task__project=project).values("assignee_id")
    _check_ids(
        values["annotators"],
        get_user_model().objects.filter(pk__in=workers),
        "annotator",
        where="in this project's work",
    )
    return ExportOptions(
        project_id=project.pk,
        **{name: tuple(ids) for name, ids in values.items()},
        include_in_progress=_flag(query, "include_in_progress"),
        policy=_policy(query),
        min_agreement=_number(query, "min_agreement", high=1.0),
        apply_corrections=_flag(query, "apply_corrections"),
        classes=_classes(query, project),
        mask_mpp=_number(query, "mask_mpp", low_exclusive=True),
    )


def _check_names(query: QueryDict) -> None:
    unknown = sorted(
        name
        for name in query
        if name not in KNOWN and not (name.startswith(CLASS_PREFIX) and name != CLASS_PREFIX)
    )
    if unknown:
        listed = ", ".join(KNOWN)
        raise ApiError(
            f"Unknown parameter {', '.join(unknown)}; the parameters are {listed}.",
            field=unknown[0],
        )


def _value(query: QueryDict, name: str) -> str:
    """The parameter's value; given twice it must say the same thing twice."""
    values = {value.strip() for value in query.getlist(name)} - {""}
    if len(values) > 1:
        raise ApiError(f"Give {name} once.", field=name)
    return values.pop() if values else ""


def _id_list(query: QueryDict, name: str) -> list[int]:
    # Several values are joined, so that both tasks=1,2 and tasks=1&tasks=2 work (a form sends
    # the latter).
    parts = [part.strip() for raw in query.getlist(name) for part in raw.split(",")]
    parts = [part for part in parts if part]
    ids = [parse_number(part, low=1) for part in parts]
    if None in ids:
        raise ApiError(f"{name} must be comma-separated ids (positive whole numbers).", field=name)
    if len(ids) > MAX_IDS:
        raise ApiError(f"Give at most {MAX_IDS} {name}.", field=name)
    return sorted(set(ids))


def _check_ids(
    ids: list[int], allowed: QuerySet, noun: str, where: str = "in this project"
) -> None:
    if not ids:
        return
    found = set(allowed.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        listed = ", ".join(map(str, missing[:10])) + (", …" if len(missing) > 10 else "")
        raise ApiError(f"No {noun}{plural} {listed} {where}.", field=f"{noun}s")


def _flag(query: QueryDict, name: str) -> bool:
    value = _value(query, name)
    if value not in ("", "0", "1"):
        raise ApiError(f"{name} must be 0 or 1.", field=name)
    return value == "1"


def _policy(query: QueryDict) -> str:
    value = _value(query, "policy") or "all"
    if value not in POLICIES:
        raise ApiError(f"policy must be one of {', '.join(POLICIES)}.", field="policy")
    return value


def _number(
    query: QueryDict, name: str, *, high: float | None = None, low_exclusive: bool = False
) -> float | None:
    """A finite number >= 0 (> 0 with ``low_exclusive``), at most ``high``; None when left out."""
    raw = _value(query, name)
    if not raw:
        return None
    value = parse_float(raw)
    low_ok = value is not None and (value > 0 if low_exclusive else value >= 0)
    if not (low_ok and (high is None or value <= high)):
        if high is not None:
            rule = f"a number from 0 to {_number_text(high)}"
        else:
            rule = "a positive number"
        raise ApiError(f"{name} must be {rule} (not {raw[:20]!r}).", field=name)
    return value


def _classes(query: QueryDict, project: Project) -> tuple[tuple[int, str], ...]:
    renamed: dict[int, str] = {}
    for name in query:
        if not name.startswith(CLASS_PREFIX):
            continue
        label_id = parse_number(name.removeprefix(CLASS_PREFIX), low=1)
        if label_id is None:
            raise ApiError(f"{name}: write class_<label id>, e.g. class_12=Tumour.", field=name)
        text = _value(query, name)
        if len(text) > CLASS_NAME_MAX:
            raise ApiError(f"A class name is at most {CLASS_NAME_MAX} characters long.", field=name)
        if text:
            renamed[label_id] = text
    if not renamed:
        return ()
    own = dict(Label.objects.filter(project=project, pk__in=renamed).values_list("pk", "name"))
    missing = sorted(set(renamed) - set(own))
    if missing:
        raise ApiError(
            f"No label {missing[0]} in this project.", field=f"{CLASS_PREFIX}{missing[0]}"
        )
    # A label "renamed" to its own name is left out, so that equal exports read the same.
    return tuple(sorted((i, name) for i, name in renamed.items() if name != own[i]))


def _number_text(value: float) -> str:
    """Shortest text that reads back as ``value``: 0.5, 1, 1e-05."""
    text = repr(value)
    return text.removesuffix(".0")

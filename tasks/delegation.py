"""
Planning of batch delegation, in plain Python: which annotators get which slides.

Every slide goes to exactly ``overlap`` distinct annotators. Slides of one case (found by a
regular expression on the file name) stay together, so one person sees the whole case. Units
(cases, or single slides) are handed out largest first, each to the ``overlap`` annotators with
the fewest slides so far; without case grouping this keeps every annotator's load within one
slide of every other's, and with it as close as the case sizes allow.
"""

import re
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")
A = TypeVar("A", bound=Hashable)


class PlanError(ValueError):
    """The delegation asked for cannot be made; the message says why, for the form."""


@dataclass(frozen=True)
class Unit(Generic[S]):
    key: str
    slides: tuple[S, ...]


def group_into_cases(names: Sequence[tuple[S, str]], case_pattern: str) -> list[Unit[S]]:
    """Group (slide, file name) pairs by the pattern's first group (or whole match)."""
    if not case_pattern:
        return [Unit(key=name, slides=(slide,)) for slide, name in names]
    try:
        pattern = re.compile(case_pattern)
    except re.error as exc:
        raise PlanError(f"The case pattern is not a valid regular expression: {exc}.") from exc
    cases: dict[str, list[S]] = defaultdict(list)
    for slide, name in names:
        match = pattern.search(name)
        if match is None:
            key = f"\0{name}"  # a slide whose name has no case number is a case of its own
        else:
            key = match.group(1) if pattern.groups else match.group(0)
        cases[key].append(slide)
    return [Unit(key=key, slides=tuple(slides)) for key, slides in cases.items()]


def plan(units: Sequence[Unit[S]], annotators: Sequence[A], overlap: int) -> dict[A, list[S]]:
    """Give each unit to ``overlap`` distinct annotators, least loaded first; deterministic."""
    if not units:
        raise PlanError("Choose at least one slide.")
    if not annotators:
        raise PlanError("Choose at least one annotator.")
    if overlap < 1:
        raise PlanError("Each slide needs at least one annotator (overlap ≥ 1).")
    if overlap > len(annotators):
        raise PlanError(
            f"An overlap of {overlap} needs at least {overlap} annotators; "
            f"{len(annotators)} chosen."
        )
    shares: dict[A, list[S]] = {annotator: [] for annotator in annotators}
    position = {annotator: i for i, annotator in enumerate(annotators)}
    ordered = sorted(enumerate(units), key=lambda item: (-len(item[1].slides), item[0]))
    for _, unit in ordered:
        chosen = sorted(annotators, key=lambda a: (len(shares[a]), position[a]))[:overlap]
        for annotator in chosen:
            shares[annotator].extend(unit.slides)
    return shares

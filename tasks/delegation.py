"""
Planning of batch delegation, in plain Python: which people get which slides.

Every slide goes to exactly ``overlap`` distinct people (annotators of an annotation task, or
reviewers of a review task). Slides of one case (found by a regular expression on the file
name, run by RE2) stay together, so one person sees the whole case. Units (cases, or single
slides) are handed out largest first, each to the ``overlap`` people with the fewest slides so
far; without case grouping this keeps every person's load within one slide of every other's,
and with it as close as the case sizes allow. A unit never goes to someone excluded from one of
its slides (a reviewer who annotated it): among units of one size those with the fewest people
left go first, so that the constrained ones take their pick before the loads fill up.
"""

from collections import defaultdict
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import re2

S = TypeVar("S")
A = TypeVar("A", bound=Hashable)


class PlanError(ValueError):
    """The delegation asked for cannot be made; the message says why, for the form."""


@dataclass(frozen=True)
class Unit(Generic[S]):
    key: str
    slides: tuple[S, ...]


# Case patterns come from the people who delegate, so they run on RE2, whose matching takes time
# linear in the file name: Python's re backtracks, and `(.|.)*!` on a 53-character name held a
# worker for 31 s. RE2's time also grows with the size of the compiled pattern, so that is
# bounded too. Measured on 255-character names (bench/case_patterns.py), the worst patterns of
# at most 1,000 instructions we could build (`((.?){90}b)+`, `(a|b)*a(a|b){330}`) take 0.7 to
# 1.6 ms per name; a real case pattern, `^(TCGA-\w\w-\w{4})` (28 instructions), 0.002 ms.
CASE_PATTERN_MAX_INSTRUCTIONS = 1000
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the form's business, not stderr's

# What RE2 says of the Python syntax it refuses (its wiki page "Syntax" lists it all), and why.
_UNSUPPORTED = (
    (("(?=", "(?!", "(?<=", "(?<!"), "look-ahead and look-behind are not supported"),
    (
        (*(f"escape sequence: \\{digit}" for digit in "123456789"), "operator: (?P"),
        "backreferences are not supported",
    ),
    (("(?>", "++", "*+", "?+"), "atomic groups and possessive repeats are not supported"),
    (("\\Z",), "write \\z for the end of the name"),
    (("repetition size",), "a repeat count can be at most 1000"),
    (("pattern too large",), "it is too large"),
)


def compile_case_pattern(case_pattern: str):
    """Compile a case pattern with RE2, or raise PlanError saying why it cannot be used."""
    try:
        pattern = re2.compile(case_pattern, _RE2_OPTIONS)
    except UnicodeEncodeError as exc:  # RE2 takes UTF-8, which has no lone surrogates
        raise PlanError("The case pattern holds a character that is not text.") from exc
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        reason = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        hints = [hint for needles, hint in _UNSUPPORTED if any(n in reason for n in needles)]
        if hints:
            raise PlanError(
                f"The case pattern cannot be used ({reason}): {hints[0]}, as patterns run on "
                "RE2, which takes time linear in the file name."
            ) from exc
        raise PlanError(
            f"The case pattern is not a valid regular expression for RE2: {reason}."
        ) from exc
    if pattern.programsize > CASE_PATTERN_MAX_INSTRUCTIONS:
        raise PlanError(
            f"The case pattern is too complex: it compiles to {pattern.programsize} "
            f"instructions, at most {CASE_PATTERN_MAX_INSTRUCTIONS} are allowed. Use fewer or "
            "smaller repeats, or \\w instead of Unicode classes such as \\p{L}."
        )
    return pattern


def group_into_cases(names: Sequence[tuple[S, str]], case_pattern: str) -> list[Unit[S]]:
    """Group (slide, file name) pairs by the pattern's first group (or whole match)."""
    if not case_pattern:
        return [Unit(key=name, slides=(slide,)) for slide, name in names]
    pattern = compile_case_pattern(case_pattern)
    cases: dict[str, list[S]] = defaultdict(list)
    for slide, name in names:
        match = pattern.search(name)
        if match is None:
            key = f"\0{name}"  # a slide whose name has no case number is a case of its own
        else:
            key = match.group(1) if pattern.groups else match.group(0)
        cases[key].append(slide)
    return [Unit(key=key, slides=tuple(slides)) for key, slides in cases.items()]


def plan(
    units: Sequence[Unit[S]],
    people: Sequence[A],
    overlap: int,
    *,
    excluded: Mapping[S, Collection[A]] | None = None,
    noun: str = "annotator",
) -> dict[A, list[S]]:
    """Give each unit to ``overlap`` distinct people, least loaded first; deterministic.

    ``excluded`` maps a slide to the people who annotated it and so may not review it: a unit
    goes to nobody excluded from any of its slides, and a unit left with fewer than ``overlap``
    people is refused with a PlanError naming it. ``noun`` names the people in messages.
    """
    if not units:
        raise PlanError("Choose at least one slide.")
    if not people:
        raise PlanError(f"Choose at least one {noun}.")
    if overlap < 1:
        raise PlanError(f"Each slide needs at least one {noun} (overlap ≥ 1).")
    if overlap > len(people):
        raise PlanError(
            f"An overlap of {overlap} needs at least {overlap} {noun}s; {len(people)} chosen."
        )
    excluded = excluded or {}
    shares: dict[A, list[S]] = {person: [] for person in people}
    position = {person: i for i, person in enumerate(people)}
    eligible = [_eligible(unit, people, excluded, overlap, noun) for unit in units]
    ordered = sorted(range(len(units)), key=lambda i: (-len(units[i].slides), len(eligible[i]), i))
    for i in ordered:
        chosen = sorted(eligible[i], key=lambda p: (len(shares[p]), position[p]))[:overlap]
        for person in chosen:
            shares[person].extend(units[i].slides)
    return shares


def _eligible(
    unit: Unit[S],
    people: Sequence[A],
    excluded: Mapping[S, Collection[A]],
    overlap: int,
    noun: str,
) -> list[A]:
    """The people who may be given ``unit``, or a PlanError when fewer than ``overlap``."""
    barred = {person for slide in unit.slides for person in excluded.get(slide, ())}
    allowed = [person for person in people if person not in barred]
    if len(allowed) >= overlap:
        return allowed
    names = ", ".join(str(s) for s in unit.slides)
    what = f"“{names}”" if len(unit.slides) == 1 else f"The case “{unit.key}” ({names})"
    chosen = sorted(str(person) for person in people if person in barred)
    raise PlanError(
        f"{what} cannot go to {overlap} different {noun}s: of the {len(people)} chosen, "
        f"{', '.join(chosen)} annotated it and nobody reviews their own work, which leaves "
        f"{len(allowed)}. Choose more {noun}s or a smaller overlap."
    )

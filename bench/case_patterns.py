"""
Time the worst case patterns the batch delegation form accepts, against file names at the length
the registry stores (255 characters).

Case patterns run on RE2 (tasks.delegation.compile_case_pattern), whose time is linear in the
file name and grows with the compiled pattern, which is bounded at
CASE_PATTERN_MAX_INSTRUCTIONS. For each family of patterns known to be slow, this takes the
largest one still accepted and prints the time per file name; then it shows what Python's re did
with ``(.|.)*!`` on short names (doubling with every character). No target is asserted: run
``.venv/bin/python bench/case_patterns.py`` and read the figures.
"""

import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.delegation import CASE_PATTERN_MAX_INSTRUCTIONS, PlanError, compile_case_pattern

NAME_LENGTH = 255
FAMILIES = {
    "star, a, then k any": lambda k: rf"(.*)a(.{{{k}}})",
    "(a|b)*a(a|b){k}": lambda k: rf"(a|b)*a(a|b){{{k}}}",
    "k optional, k any": lambda k: rf"(.?){{{k}}}.{{{k}}}x",
    "nested optional": lambda k: rf"((.?){{{k}}}b)+",
    "nested optional a": lambda k: rf"((a?){{{k}}}b)*!",
    "bounded repeats": lambda k: rf"((a|b){{1,{k}}}(b|a){{1,{k}}})+!",
    "a real case pattern": lambda k: r"^(TCGA-\w\w-\w{4})",
}


def names() -> list[str]:
    rng = random.Random(1)
    made = ["".join(rng.choice("ab") for _ in range(NAME_LENGTH)) for _ in range(20)]
    ends = ["é" * NAME_LENGTH, "a" * NAME_LENGTH, ("ab" * NAME_LENGTH)[: NAME_LENGTH - 1] + "!"]
    return [*made, *ends]


def largest_accepted(family) -> tuple[str, object]:
    best = None
    for k in range(1, 1000):
        try:
            best = (family(k), compile_case_pattern(family(k)))
        except PlanError:
            break
    return best


def per_name_ms(pattern, texts: list[str], rounds: int = 5) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            pattern.search(text)
    return (time.perf_counter() - started) / (rounds * len(texts)) * 1000


def main() -> None:
    texts = names()
    print(
        f"RE2, at most {CASE_PATTERN_MAX_INSTRUCTIONS} instructions, {NAME_LENGTH}-character names"
    )
    for label, family in FAMILIES.items():
        source, pattern = largest_accepted(family)
        print(
            f"  {label:22} {source[:28]:30} {pattern.programsize:5} instructions"
            f"  {per_name_ms(pattern, texts):8.3f} ms per name"
        )
    print("Python's re on (.|.)*! (what the form used before)")
    for length in (18, 20, 22):
        started = time.perf_counter()
        re.search(r"(.|.)*!", "a" * length)
        print(f"  {length}-character name: {time.perf_counter() - started:8.3f} s")


if __name__ == "__main__":
    main()

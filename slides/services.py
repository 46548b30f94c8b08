"""Writes to the slide registry: registering one file, scanning folders, rescanning."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from django.db import IntegrityError, transaction
from django.utils import timezone

from slides.files import (
    SLIDE_SUFFIXES,
    PathOutsideRoot,
    relative_to_root,
    resolve_in_root,
    slides_root,
)
from slides.metadata import SlideFacts, read_slide_facts
from slides.models import Slide

# Folders nested deeper than this below the scanned folder are not entered: a guard against
# pathological trees, far beyond any real slide archive.
MAX_SCAN_DEPTH = 32
_MISSING_BATCH = 500


def _apply_facts(slide: Slide, facts: SlideFacts) -> None:
    for name, value in asdict(facts).items():
        setattr(slide, name, value)
    slide.status = Slide.Status.UNREADABLE if facts.error else Slide.Status.OK
    slide.scanned_at = timezone.now()


def _save_facts(*, slide: Slide, path: Path, relative: str, facts: SlideFacts) -> Slide:
    slide.path = relative
    if not slide.name:
        slide.name = path.name
    _apply_facts(slide, facts)
    slide.save()
    return slide


@transaction.atomic
def slide_register_file(
    *, path: Path, root: Path | None = None, slide: Slide | None = None
) -> Slide:
    """Create or refresh the registry entry for the file at ``path`` (absolute, under the root).

    With ``slide``, that entry takes the file's path and facts (a file that moved keeps its
    identity); otherwise the entry with the same relative path is updated, or a new one made.
    """
    root = root or slides_root()
    relative = relative_to_root(path, root)
    facts = read_slide_facts(path)
    if slide is None:
        slide = Slide.objects.filter(path=relative).first() or Slide(path=relative)
    return _save_facts(slide=slide, path=path, relative=relative, facts=facts)


def slide_mark_missing(*, slide: Slide, reason: str = "") -> Slide:
    """Record that the slide's file is gone; the entry and everything attached to it stay."""
    slide.status = Slide.Status.MISSING
    slide.error = reason or "The file is no longer at this path."
    slide.scanned_at = timezone.now()
    slide.save(update_fields=["status", "error", "scanned_at", "updated_at"])
    return slide


class ScanFolderInvalid(ValueError):
    """The folder to scan lies outside SLIDES_ROOT, does not exist or is not a folder."""


@dataclass
class ScanReport:
    """What a scan did, with paths relative to SLIDES_ROOT.

    Every slide file found lands in exactly one of ``created``, ``updated``, ``moved`` (old and
    new path), ``unchanged`` and ``unreadable`` (path and OpenSlide's error). ``missing`` lists
    the registered slides whose file has gone; ``refused`` the paths not followed, with why.
    """

    folder: str = ""
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {f.name: len(getattr(self, f.name)) for f in fields(self) if f.name != "folder"}

    def summary(self) -> str:
        where = self.folder or "SLIDES_ROOT"
        counts = ", ".join(f"{count} {name}" for name, count in self.counts().items())
        return f"Scanned {where}: {counts}."

    def problems(self) -> list[str]:
        """One line per refused path and unreadable file, saying why."""
        return [f"Refused {path}: {reason}" for path, reason in self.refused] + [
            f"Unreadable {path}: {error}" for path, error in self.unreadable
        ]


def _is_slide_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in SLIDE_SUFFIXES


def _file_mtime(stat: os.stat_result) -> datetime:
    # The same conversion as slides.metadata.read_slide_facts, so equal files compare equal.
    return datetime.fromtimestamp(stat.st_mtime, tz=UTC)


def _shown(path: Path, root: Path) -> str:
    """A path under the root as the report shows it: relative, or "/" for the root itself."""
    return "/" if path == root else relative_to_root(path, root)


def _present_file(relative: str, root: Path) -> Path | None:
    """Return the real path of a registered slide's file, or None when it is not usable there."""
    try:
        real = resolve_in_root(relative, root)
    except (PathOutsideRoot, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return None
    return real if real.is_file() else None


def _scan_start(folder: str | Path, root: Path) -> Path:
    try:
        start = resolve_in_root(folder, root)
    except PathOutsideRoot as exc:
        raise ScanFolderInvalid(str(exc)) from exc
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte...
        raise ScanFolderInvalid(f"Cannot resolve {folder}: {exc}") from exc
    if not start.is_dir():
        state = "is not a folder" if start.exists() else "does not exist"
        raise ScanFolderInvalid(f"{folder or start} {state} (SLIDES_ROOT is {root}).")
    return start


def _follow(entry: os.DirEntry, root: Path, report: ScanReport) -> Path | None:
    """Return the real path of a folder entry, or None when it is refused or leads nowhere."""
    path = Path(entry.path)  # its folder is a real path, so only a symlink needs resolving
    if not entry.is_symlink():
        return path
    relative = relative_to_root(path, root)
    try:
        target = path.resolve(strict=True)
    except (RuntimeError, OSError) as exc:
        if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
            report.refused.append((relative, "symlink loop: not followed."))
        elif _is_slide_name(entry.name):
            report.refused.append((relative, "broken symlink: its target does not exist."))
        return None
    if not target.is_relative_to(root):
        if target.is_dir() or _is_slide_name(entry.name):
            reason = f"symlink to {target}, outside SLIDES_ROOT: not followed."
            report.refused.append((relative, reason))
        return None
    if target.is_dir() and path.parent.is_relative_to(target):
        reason = f"symlink loop: leads back to {_shown(target, root)}."
        report.refused.append((relative, reason))
        return None
    return target


def _slide_files(start: Path, root: Path, report: ScanReport) -> list[Path]:
    """Return the real paths of the slide files below ``start``, sorted.

    Hidden entries (".name") are skipped. Symlinks are followed only when they resolve inside
    the root, and each real folder is entered once, so a file reachable two ways counts once.
    """
    found: set[Path] = set()
    entered = {start}
    pending = [(start, 0)]
    while pending:
        folder, depth = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            reason = f"cannot list this folder: {exc.strerror or exc}."
            report.refused.append((_shown(folder, root), reason))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            target = _follow(entry, root, report)
            if target is None:
                continue
            if target.is_dir():
                if target in entered:
                    continue
                if depth >= MAX_SCAN_DEPTH:
                    reason = f"nested more than {MAX_SCAN_DEPTH} folders deep: not entered."
                    report.refused.append((relative_to_root(target, root), reason))
                    continue
                entered.add(target)
                pending.append((target, depth + 1))
            elif _is_slide_name(entry.name) and target.is_file():
                found.add(target)
    return sorted(found)


def _moved_slide(facts: SlideFacts, root: Path) -> Slide | None:
    """Return the registered slide with the same fingerprint whose own file is gone, if any."""
    if not facts.quickhash:
        return None
    for slide in Slide.objects.filter(quickhash=facts.quickhash).order_by("pk"):
        if _present_file(slide.path, root) is None:
            return slide
    return None


def _register_moved(*, slide: Slide, path: Path, root: Path, facts: SlideFacts) -> Slide | None:
    """Give ``slide`` the new path, unless a concurrent scan changed it meanwhile."""
    with transaction.atomic():
        slide = Slide.objects.select_for_update().filter(pk=slide.pk).first()
        if slide is None or _present_file(slide.path, root) is not None:
            return None
        old_name = PurePosixPath(slide.path).name
        if slide.name == old_name:  # a name never edited follows the file
            slide.name = path.name
        return _save_facts(
            slide=slide, path=path, relative=relative_to_root(path, root), facts=facts
        )


def _register_new(*, path: Path, root: Path, facts: SlideFacts) -> tuple[Slide, bool]:
    """Create the entry; return it and whether it is new (False: a concurrent scan made it)."""
    relative = relative_to_root(path, root)
    try:
        with transaction.atomic():
            return _save_facts(slide=Slide(), path=path, relative=relative, facts=facts), True
    except IntegrityError:
        with transaction.atomic():
            slide = Slide.objects.select_for_update().get(path=relative)
            return _save_facts(slide=slide, path=path, relative=relative, facts=facts), False


def _scan_file(path: Path, root: Path, report: ScanReport) -> bool:
    """Register or refresh one file and file it in the report; False when it has vanished."""
    relative = relative_to_root(path, root)
    try:
        stat = path.stat()
    except OSError:
        return False
    slide = Slide.objects.filter(path=relative).first()
    moved_from = ""
    if (
        slide is not None
        and slide.status != Slide.Status.MISSING
        and (slide.file_size, slide.file_mtime) == (stat.st_size, _file_mtime(stat))
    ):
        bucket = "unchanged"
    else:
        try:
            facts = read_slide_facts(path)
        except OSError:
            return False
        slide, bucket, moved_from = _store(slide=slide, path=path, root=root, facts=facts)
    if slide.status == Slide.Status.UNREADABLE:
        report.unreadable.append((relative, slide.error))
    elif moved_from:
        report.moved.append((moved_from, relative))
    else:
        getattr(report, bucket).append(relative)
    return True


def _store(
    *, slide: Slide | None, path: Path, root: Path, facts: SlideFacts
) -> tuple[Slide, str, str]:
    """Save the facts read from ``path``.

    Return the slide, the report list it belongs in and, for a moved slide, its former path.
    """
    relative = relative_to_root(path, root)
    if slide is not None:
        with transaction.atomic():
            slide = _save_facts(slide=slide, path=path, relative=relative, facts=facts)
        return slide, "updated", ""
    previous = _moved_slide(facts, root)
    if previous is not None:
        moved = _register_moved(slide=previous, path=path, root=root, facts=facts)
        if moved is not None:
            return moved, "moved", previous.path
    slide, created = _register_new(path=path, root=root, facts=facts)
    return slide, "created" if created else "updated", ""


def _mark_missing(folder: str, seen: set[str], root: Path, report: ScanReport) -> None:
    """Mark missing the slides under ``folder`` not seen by the scan and absent from disk."""
    registered = Slide.objects.under(folder).exclude(status=Slide.Status.MISSING)
    gone = [
        (pk, path)
        for pk, path in registered.values_list("pk", "path").iterator()
        if path not in seen and _present_file(path, root) is None
    ]
    now = timezone.now()
    for start in range(0, len(gone), _MISSING_BATCH):
        batch = [pk for pk, _ in gone[start : start + _MISSING_BATCH]]
        Slide.objects.filter(pk__in=batch).exclude(status=Slide.Status.MISSING).update(
            status=Slide.Status.MISSING,
            error="The file was not found at this path when the folder was scanned.",
            scanned_at=now,
            updated_at=now,
        )
    report.missing.extend(sorted(path for _, path in gone))


def slides_scan(
    *,
    folder: str | Path = "",
    progress: Callable[[Sequence[Path]], Iterable[Path]] | None = None,
) -> ScanReport:
    """Bring the registry in line with the slide files under ``folder`` of SLIDES_ROOT.

    ``folder`` is relative to the root, or absolute inside it; "" is the whole root. New files
    are registered, changed ones (size or modification time) read again, unchanged ones left
    unopened. A new path whose OpenSlide fingerprint matches a slide whose file is gone is that
    slide moved: it keeps its identity. Registered slides whose file is gone become missing;
    nothing is deleted. Symlinks leading outside the root are refused, never followed. Each file
    is saved in its own transaction. ``progress`` wraps the list of files to be processed (pass
    ``tqdm.tqdm`` for a progress bar). Raise ScanFolderInvalid for a bad ``folder``.
    """
    root = slides_root()
    start = _scan_start(folder, root)
    relative = "" if start == root else relative_to_root(start, root)
    report = ScanReport(folder=relative)
    files = _slide_files(start, root, report)
    seen = set()
    for path in (progress or iter)(files):
        if _scan_file(path, root, report):
            seen.add(relative_to_root(path, root))
    _mark_missing(relative, seen, root, report)
    return report


def slides_rescan(*, slides: Iterable[Slide]) -> ScanReport:
    """Read the files of ``slides`` again, changed or not; mark those whose file is gone missing."""
    root = slides_root()
    report = ScanReport()
    for slide in slides:
        stored = slide.path
        path = _present_file(stored, root)
        if path is None:
            slide_mark_missing(slide=slide)
            report.missing.append(stored)
            continue
        try:
            slide = slide_register_file(path=path, root=root, slide=slide)
        except IntegrityError:
            relative = relative_to_root(path, root)
            report.refused.append((stored, f"leads to {relative}, registered as another slide."))
            continue
        except OSError as exc:
            report.refused.append((stored, f"cannot be read: {exc}"))
            continue
        if slide.status == Slide.Status.UNREADABLE:
            report.unreadable.append((slide.path, slide.error))
        else:
            report.updated.append(slide.path)
    return report

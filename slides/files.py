"""Confinement of slide paths to SLIDES_ROOT."""

from pathlib import Path, PurePosixPath

from django.conf import settings

SLIDE_SUFFIXES = frozenset(
    {".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".svslide", ".bif"}
)


class PathOutsideRoot(ValueError):
    """A path that resolves (possibly through a symlink) outside SLIDES_ROOT."""


def slides_root() -> Path:
    return Path(settings.SLIDES_ROOT).resolve()


def resolve_in_root(relative: str | Path, root: Path | None = None) -> Path:
    """Return the real absolute path of ``relative`` under the slide root.

    Raise PathOutsideRoot when the path is absolute and elsewhere, climbs out with "..", or
    resolves through a symlink to a place outside the root.
    """
    root = root or slides_root()
    candidate = Path(relative)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        real = candidate.resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop: RuntimeError on Python 3.11
        raise PathOutsideRoot(f"{relative} cannot be resolved: {exc}") from exc
    if not real.is_relative_to(root):
        raise PathOutsideRoot(f"{relative} resolves to {real}, outside SLIDES_ROOT ({root})")
    return real


def relative_to_root(path: Path, root: Path | None = None) -> str:
    """Return the stored form of a path under the root: relative, with / separators."""
    root = root or slides_root()
    return PurePosixPath(path.relative_to(root)).as_posix()

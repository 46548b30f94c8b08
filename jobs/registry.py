"""The kinds of job and what runs them, registered by the app that owns the work.

``slides/jobs.py`` registers ``scan_slides``, ``review/jobs.py`` ``compute_agreement``; the
jobs app imports none of them (jobs.apps finds every app's jobs.py). A handler is called as
``handler(job=job, progress=progress)`` in the worker and returns a JobOutcome, or raises
JobFailed with a message for the person who started the job.

A handler that fails must leave nothing half-stored: it writes its work in one transaction, or
in steps each complete in itself that a second run finishes (the job may be run again after
its worker stopped, see jobs.services).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from jobs.models import Job


@dataclass(frozen=True)
class JobOutcome:
    """What a job that succeeded did: one sentence, and details as JSON (the job's result)."""

    message: str
    result: dict = field(default_factory=dict)


class JobFailed(Exception):
    """The job cannot be done, for a reason said in plain words (shown as the job's message)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnknownJobKind(LookupError):
    """No app registered this kind of job."""


@dataclass(frozen=True)
class JobKind:
    """How one kind of job runs and reads.

    ``permissions``: what staff need to follow someone else's job of this kind, and
    ``may_view(user, job)`` any rule on the job's own objects beyond them (a project's
    members). ``details(job)``: lines shown under the message (a scan's refused files);
    ``links(job)``: (text, url) pairs leading on from the job (the slides it scanned).
    """

    name: str
    handler: Callable[..., JobOutcome]
    permissions: tuple[str, ...]
    may_view: Callable[[AbstractBaseUser, Job], bool] | None = None
    details: Callable[[Job], Sequence[str]] | None = None
    links: Callable[[Job], Sequence[tuple[str, str]]] | None = None


_kinds: dict[str, JobKind] = {}


def register(
    name: str,
    *,
    permissions: Sequence[str],
    may_view: Callable[[AbstractBaseUser, Job], bool] | None = None,
    details: Callable[[Job], Sequence[str]] | None = None,
    links: Callable[[Job], Sequence[tuple[str, str]]] | None = None,
) -> Callable:
    """Register the decorated function as the handler of jobs of kind ``name``."""

    def decorate(handler: Callable[..., JobOutcome]) -> Callable[..., JobOutcome]:
        _kinds[name] = JobKind(
            name=name,
            handler=handler,
            permissions=tuple(permissions),
            may_view=may_view,
            details=details,
            links=links,
        )
        return handler

    return decorate


def kind_for(name: str) -> JobKind:
    try:
        return _kinds[name]
    except KeyError:
        raise UnknownJobKind(f"No kind of job is called {name!r}.") from None

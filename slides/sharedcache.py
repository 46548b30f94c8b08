"""
The shared caches (Redis in production) behind a small circuit breaker.

A cache is an optimisation, so a cache that is down or frozen must not take requests with it.
Redis' own client waits 5 s for a frozen server by default; settings.CACHES lowers that to
CACHE_SOCKET_TIMEOUT_MS, and this module bounds it further: after a failure, a process skips
that cache for CACHE_RETRY_SECONDS, then lets one request try it again. So a frozen Redis
costs each worker one short wait per interval rather than one per request, the failure is
logged once per interval rather than per request, and the cache is used again as soon as it
answers. django-redis' IGNORE_EXCEPTIONS would hide the failure from callers that must know
(the grant revocation list fails closed) and logs every request, with no pause in between.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import BaseCache, caches

logger = logging.getLogger(__name__)

T = TypeVar("T")

_clock = time.monotonic  # tests move it forward rather than wait


class CacheUnavailable(Exception):
    """The shared cache failed, or is skipped for a while after a failure."""


class CacheBreaker:
    """Run operations on one cache alias; after a failure, refuse them for a while."""

    def __init__(self, alias: str):
        self.alias = alias
        self._lock = threading.Lock()
        # 0 while the cache works; else the monotonic time of the next attempt.
        self._retry_at = 0.0

    def _admit(self) -> bool:
        """Return whether this call probes a failed cache; raise CacheUnavailable to skip it."""
        if not self._retry_at:
            return False
        with self._lock:
            now = _clock()
            if self._retry_at and now < self._retry_at:
                raise CacheUnavailable(f'the "{self.alias}" cache is skipped after a failure')
            probing = bool(self._retry_at)
            if probing:
                # This call probes; the others keep skipping until it knows.
                self._retry_at = now + settings.CACHE_RETRY_SECONDS
            return probing

    def run(self, operation: Callable[[BaseCache], T]) -> T:
        """Return ``operation(cache)``; raise CacheUnavailable if it fails or is being skipped."""
        probing = self._admit()
        try:
            result = operation(caches[self.alias])
        except Exception as exc:
            # Any failure: connection refused, timeout, a broken pool, a value that will not
            # unpickle. Going without the cache is right for all of them, and the traceback is
            # logged (once per interval) so that a bug would still show.
            self._failed(exc, probing)
            raise CacheUnavailable(f'the "{self.alias}" cache failed: {exc}') from exc
        if self._retry_at:
            self._recovered()
        return result

    def _failed(self, exc: Exception, probing: bool) -> None:
        with self._lock:
            opened = not self._retry_at
            self._retry_at = _clock() + settings.CACHE_RETRY_SECONDS
        # Log when the breaker opens, and when its probe (one per interval) fails; requests
        # already in flight when it opened say nothing.
        if opened or probing:
            logger.warning(
                'the "%s" cache failed (%s: %s); going without it for %s s',
                self.alias,
                type(exc).__name__,
                exc,
                settings.CACHE_RETRY_SECONDS,
                exc_info=exc,
            )

    def _recovered(self) -> None:
        with self._lock:
            was_open = bool(self._retry_at)
            self._retry_at = 0.0
        if was_open:
            logger.info('the "%s" cache answers again', self.alias)

    def reset(self) -> None:
        with self._lock:
            self._retry_at = 0.0


tiles = CacheBreaker("tiles")
default = CacheBreaker("default")


def reset() -> None:
    """Forget past failures (for tests that change settings.CACHES)."""
    tiles.reset()
    default.reset()

"""A progress bar on stderr for the command line, without a dependency for it."""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    """Counts work done out of ``total`` and redraws one line on ``stream`` at most every
    ``interval`` seconds (``\\r`` on a terminal; a line per 10 % otherwise, so that logs stay
    short). ``quiet`` draws nothing."""

    def __init__(
        self,
        total: int | None,
        what: str,
        *,
        stream: IO[str] | None = None,
        interval: float = 0.2,
        quiet: bool = False,
    ):
        self.total, self.what, self.done = total, what, 0
        self.stream = stream or sys.stderr
        self.interval, self.quiet = interval, quiet
        self.terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self.shown_at = 0.0
        self.shown_tenth = -1

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.terminal and now - self.shown_at >= self.interval:
            self.shown_at = now
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif not self.terminal and self.total:
            tenth = 10 * self.done // self.total
            if tenth > self.shown_tenth:
                self.shown_tenth = tenth
                self.stream.write(self.line() + "\n")

    def close(self) -> None:
        if self.quiet:
            return
        self.stream.write(("\r" if self.terminal else "") + self.line() + "\n")
        self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = f"{self.done / elapsed:,.1f}/s"
        if not self.total:
            return f"{self.what}: {self.done:,} ({rate})"
        width = 30
        filled = width * min(self.done, self.total) // self.total
        bar = "#" * filled + "-" * (width - filled)
        return f"{self.what}: [{bar}] {self.done:,}/{self.total:,} ({rate})"

    def __enter__(self) -> Progress:
        if self.quiet:
            self.terminal, self.total = False, None
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""exports.rows.prefetched: the next batch of a cursor is fetched while this one is written."""

import threading

import pytest

from exports.rows import prefetched


class Cursor:
    """Batches of 3 rows, 10 rows in all; records which threads fetched and whether two fetches
    ever overlapped."""

    def __init__(self, fail_at: int | None = None):
        self.next, self.fail_at = 0, fail_at
        self.busy = threading.Lock()
        self.overlapped = False
        self.threads = set()
        self.fetches = 0

    def fetchmany(self) -> list[int]:
        if not self.busy.acquire(blocking=False):
            self.overlapped = True
            self.busy.acquire()
        try:
            self.fetches += 1
            self.threads.add(threading.current_thread().name)
            if self.fail_at is not None and self.next >= self.fail_at:
                raise RuntimeError("connection lost")
            batch = list(range(self.next, min(self.next + 3, 10)))
            self.next += len(batch)
            return batch
        finally:
            self.busy.release()


def test_every_batch_comes_in_order_fetched_outside_the_callers_thread():
    cursor = Cursor()

    batches = list(prefetched(cursor.fetchmany))

    assert batches == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert not cursor.overlapped
    assert threading.current_thread().name not in cursor.threads


def test_a_failing_fetch_reaches_the_caller():
    cursor = Cursor(fail_at=6)

    with pytest.raises(RuntimeError, match="connection lost"):
        list(prefetched(cursor.fetchmany))


def test_a_caller_stopping_early_leaves_no_fetch_running():
    cursor = Cursor()
    batches = prefetched(cursor.fetchmany)

    assert next(batches) == [0, 1, 2]
    batches.close()

    # The fetch of the next batch, started ahead, was waited for; none after it.
    assert cursor.fetches == 2 and not cursor.busy.locked()

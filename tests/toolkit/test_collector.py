"""wsi2ml_toolkit.collector: collections spaced while work runs, restored after the last."""

import gc
import threading

from wsi2ml_toolkit import collector
from wsi2ml_toolkit.formats import qupath, read_annotations_text


def test_collections_are_spaced_while_blocks_run_and_restored_after_the_last():
    before = gc.get_threshold()
    with collector.spaced():
        assert gc.get_threshold()[0] == collector.SPACED_THRESHOLD
        with collector.spaced():  # another export or read, as in another thread
            pass
        assert gc.get_threshold()[0] == collector.SPACED_THRESHOLD
    assert gc.get_threshold() == before


def test_blocks_in_several_threads_share_one_setting():
    before = gc.get_threshold()
    inside, leave = threading.Event(), threading.Event()

    def other():
        with collector.spaced():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with collector.spaced():
        pass
    assert gc.get_threshold()[0] == collector.SPACED_THRESHOLD  # the other still runs
    leave.set()
    thread.join()
    assert gc.get_threshold() == before


def test_the_collector_is_paused_while_blocks_run_and_back_on_after_the_last():
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():  # another read, as in another thread
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off_after_a_paused_block():
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_reading_a_file_pauses_the_collector(monkeypatch):
    seen = []
    real = qupath.features_of

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        yield from real(*args, **kwargs)

    monkeypatch.setattr(qupath, "features_of", watched)
    read_annotations_text('{"type": "Point", "coordinates": [1, 2]}')

    assert seen == [False]
    assert gc.isenabled()

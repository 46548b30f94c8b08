"""wsi2ml_toolkit.collector: collections spaced while work runs, restored after the last."""

import gc
import threading

from wsi2ml_toolkit import collector


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

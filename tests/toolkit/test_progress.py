"""wsi2ml_toolkit.progress: the command line's progress bar."""

import io

from wsi2ml_toolkit.progress import Progress


def test_a_log_gets_a_line_per_tenth_of_the_work_and_a_last_one():
    stream = io.StringIO()
    with Progress(20, "patches", stream=stream) as progress:
        for _ in range(20):
            progress.advance()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 12  # the first patch, then 10 % ... 100 %, then the closing line
    assert lines[0].startswith("patches: [#-----------------------------] 1/20 (")
    assert lines[1].startswith("patches: [###---------------------------] 2/20 (")
    assert lines[-1].startswith("patches: [" + "#" * 30 + "] 20/20 (")


def test_quiet_draws_nothing():
    stream = io.StringIO()
    with Progress(20, "patches", stream=stream, quiet=True) as progress:
        progress.advance(20)
    assert stream.getvalue() == ""


def test_without_a_total_it_counts():
    stream = io.StringIO()
    with Progress(None, "features", stream=stream) as progress:
        progress.advance(7)
    assert stream.getvalue().startswith("features: 7 (")

"""Numbers from the URL path and the query string: ASCII digits within a bound, or nothing."""

import pytest

from slides.converters import MAX_ID, parse_ids, parse_number


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "²",
        "٣",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1_000",
        "1e3",
        "0x10",
        "1.0",
        str(MAX_ID + 1),
        "9" * 5000,
    ],
)
def test_anything_but_ascii_digits_within_the_bound_is_no_number(raw):
    assert parse_number(raw) is None


def test_ascii_digits_within_the_bound_are_the_number():
    assert [parse_number("0"), parse_number("007"), parse_number(str(MAX_ID))] == [0, 7, MAX_ID]
    assert parse_number("15", low=16, high=1024) is None
    assert parse_number("1025", low=16, high=1024) is None


def test_an_id_list_keeps_the_ids_in_order_once_and_drops_the_rest():
    assert parse_ids("3,1,²,,-2,0,3,abc,99999999999999999999999, 4,7") == [3, 1, 7]
    assert parse_ids("") == []

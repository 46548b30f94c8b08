"""Path converters that bound numbers, so that an absurd id is a 404, never a database error;
and the same rule for numbers that come in a query string or a form field."""

# Twelve digits: far more ids than any table here will hold, far below PostgreSQL's bigint.
ID_DIGITS = 12
MAX_ID = 10**ID_DIGITS - 1


class IdConverter:
    regex = f"[0-9]{{1,{ID_DIGITS}}}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class TileIndexConverter(IdConverter):
    regex = "[0-9]{1,7}"


def parse_number(raw: str, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """Return the number ``raw`` spells in ASCII digits when it lies in [low, high], else None.

    Not ``int()`` alone: it also takes " 7", "+7", "1_000" and "٧" (an Arabic-Indic seven), and
    ``str.isdigit()`` takes "²", which ``int()`` then refuses with an exception.
    """
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(high)):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def parse_ids(raw: str) -> list[int]:
    """Return the ids in a comma-separated list, in order and once each; leave out the rest."""
    ids = (parse_number(part, low=1) for part in raw.split(","))
    return list(dict.fromkeys(i for i in ids if i is not None))

"""Path converters that bound numbers, so that an absurd id is a 404, never a database error."""


class IdConverter:
    regex = "[0-9]{1,12}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class TileIndexConverter(IdConverter):
    regex = "[0-9]{1,7}"

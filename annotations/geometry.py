"""Annotation geometry as the server uses it: the rules live in the toolkit
(``wsi2ml_toolkit.geometry``), which people training models install too, so that what the
server stores and what the toolkit writes are checked, repaired and measured the same way.
Here they answer the API's way: a GeometryError is an ApiError, refused with 400.
"""

from wsi2ml_toolkit import geometry as _rules
from wsi2ml_toolkit.geometry import (  # noqa: F401 (the server's names for the shared rules)
    DIGITS,
    KIND_SHAPES,
    LINE,
    MAX_CROSSINGS,
    MAX_EDGE_OVERLAPS,
    MAX_RING_OVERLAPS,
    POINT,
    POLYGONAL,
    PRECISION,
    CleanGeometry,
    measure,
    measures,
    preview_path,
    simplify,
    to_geojson,
)

from wsi2ml.api import ApiError


class GeometryError(ApiError, _rules.GeometryError):
    """A geometry that cannot be stored (400); the message says what is wrong and where."""

    def __init__(self, message: str):
        ApiError.__init__(self, message, field="geometry")


def clean(raw: object, **limits) -> CleanGeometry:
    """``wsi2ml_toolkit.geometry.clean``, refused as the API refuses (GeometryError, 400)."""
    try:
        return _rules.clean(raw, **limits)
    except _rules.GeometryError as exc:
        raise GeometryError(exc.message) from None

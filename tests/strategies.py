"""Hypothesis strategies for hostile input, shared by the property tests of every app.

What a careless client or an attacker sends: any character (NUL and lone surrogates included),
numbers too large for any column, digits that are not ASCII ('²', '٣'), JSON of every type and
nesting, and query strings percent-encoded from any bytes.
"""

from urllib.parse import quote

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Each test builds its data once and runs every example against it; refused requests change
# nothing and accepted ones only add rows, so the examples need no fresh database each.
PROPERTIES = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Characters that broke a parser or PostgreSQL somewhere, or could.
TROUBLE = ["\x00", "\ud800", "\udfff", "²", "٣", "\u00a0", "\ufeff", "\u202e", "%", "&", "=", ","]
TROUBLE += ["+", ";", "'", '"', "\\", "/", ".", "\n", "*", "(", ")", "|", "[", "{", "é"]

UNSTORABLE = ["\x00", "\ud800", "\udfff"]  # what PostgreSQL cannot store as text

characters = st.one_of(
    st.characters(exclude_categories=()),  # every code point, surrogates included
    st.sampled_from(TROUBLE),
)
plain_text = st.text(characters, max_size=30)
# Half the strings hold a character PostgreSQL refuses, so that few examples meet one. (Not for
# query strings and forms: one NUL anywhere refuses the whole request before any view sees it.)
text = st.one_of(
    plain_text,
    st.tuples(plain_text, st.sampled_from(UNSTORABLE), plain_text).map("".join),
)

numberish = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats().map(repr),
    st.sampled_from(["", "0", "-1", "1e999", "0x10", "1_000", " 7", "+7", "١٢", "²", "NaN", "inf"]),
)
text_or_number = st.one_of(plain_text, numberish)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


def deep_json(*, max_depth: int = 5000) -> st.SearchStrategy[str]:
    """JSON text nested up to ``max_depth`` deep: lists, objects, or GeoJSON-like coordinates."""
    return st.tuples(st.integers(1, max_depth), st.sampled_from(["list", "object", "numbers"])).map(
        lambda spec: _nest(*spec)
    )


def _nest(depth: int, shape: str) -> str:
    if shape == "list":
        return "[" * depth + "]" * depth
    if shape == "object":
        return '{"a": ' * depth + "1" + "}" * depth
    return "[" * depth + "1, 2" + "]" * depth


def encode(value: str) -> str:
    """Percent-encode ``value`` as a client would, lone surrogates as their UTF-8-like bytes."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


query_values = st.one_of(
    text_or_number.map(encode),
    st.binary(max_size=12).map(lambda raw: quote(raw, safe="")),  # any bytes, UTF-8 or not
    # NUL, '²', a UTF-8-encoded surrogate, bytes that are not UTF-8, broken escapes.
    st.sampled_from(["%00", "1%00", "%C2%B2", "1,%C2%B2", "%ED%A0%80", "%FF", "%", "%2", "%%"]),
)


def query_strings(names: list[str]) -> st.SearchStrategy[str]:
    """Raw query strings with the given parameter names and odd ones, in any number and order."""
    name = st.one_of(st.sampled_from(names), plain_text.map(encode))
    pairs = st.lists(st.tuples(name, query_values), max_size=5)
    return pairs.map(lambda items: "&".join(f"{key}={value}" for key, value in items))


def form_data(names: list[str]) -> st.SearchStrategy[dict]:
    """Form fields: the given names with odd values (one or several each), and odd extra fields.

    Lone surrogates are left out: a browser cannot send them in a form (the test client could
    not even encode them), and their UTF-8-like bytes are covered by the query strings.
    """
    storable = st.text(st.characters(codec="utf-8"), max_size=30) | numberish
    values = st.one_of(storable, st.lists(storable, min_size=1, max_size=3))
    known = st.fixed_dictionaries({}, optional={key: values for key in names})
    extra = st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=10), values, max_size=2)
    return st.tuples(known, extra).map(lambda both: {**both[1], **both[0]})

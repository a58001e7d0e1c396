"""Generated request lines for the fuzz tests of the gate (middleware and gateway), and the
oracle that says whether a request, as received downstream, is one a lenient router could
take for a gated route.

The oracle is deliberately more lenient than any one framework: it strips fragments and
queries, takes the path out of absolute and ``@host`` forms, decodes once, reads ``\\`` as
``/``, cuts ``;params`` and anything after a NUL, collapses ``//``, resolves dot segments,
ignores case and a trailing slash, and honours method-override headers and lower-case
methods. What the gate lets through must be gated for none of those readings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from hypothesis import strategies as st

GATED_ROUTES = [
    {"path": "/api/messages", "audience": "body:audience"},
    {"path": "/api/grades/{id}/publish", "kind": "grade", "audience": "body:audience"},
]
_GATED = [re.compile(r"/api/messages"), re.compile(r"/api/grades/[^/]+/publish")]
OVERRIDES = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")

pieces = st.sampled_from(
    [
        "api", "API", "Api", "messages", "MESSAGES", "m%65ssages", "%6Dessages", "grades",
        "12", "x", "publish", "PUBLISH", ".", "..", "%2e", "%2E%2e", ".%2e", "", "%2F", "%2f",
        "%5C", "\\", "%00", ";x=1", "#x", "%23", "%3F", "%25", "%252F", "%C3%A9", "%FF",
    ]
)  # fmt: skip
prefixes = st.sampled_from(
    ["/", "/", "/", "//", "@127.0.0.1:9/", "http://127.0.0.1:9/", "http://ent/", "*", ""]
)
methods = st.sampled_from(["POST", "POST", "post", "Post", "GET", "PUT", "PATCH", "DELETE"])
queries = st.sampled_from(["", "", "?x=1", "?x=%23", "?a=1#frag", "?/api/messages"])


@st.composite
def targets(draw: st.DrawFn) -> bytes:
    prefix = draw(prefixes)
    if prefix == "*":
        return b"*"
    if draw(st.booleans()):  # most often a gated path, lightly mangled
        base = draw(st.sampled_from([["api", "messages"], ["api", "grades", "12", "publish"]]))
        at = draw(st.integers(0, len(base)))
        base[at:at] = draw(st.lists(pieces, max_size=2))
    else:
        base = draw(st.lists(pieces, min_size=1, max_size=5))
    tail = draw(st.sampled_from(["", "", "/"]))
    return (prefix + "/".join(base) + tail + draw(queries)).encode("latin-1")


_token = st.text(st.sampled_from("abcxyzABC-_0123456789!#$%&'*+.^`|~"), min_size=1, max_size=12)
_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=24)
_noise = st.dictionaries(
    st.sampled_from(["Connection", "Keep-Alive", "TE", "Upgrade", "Expect", "Accept-Encoding"])
    | _token,
    st.sampled_from(["close, x-a", "keep-alive", "trailers", "100-continue", "gzip"]) | _value,
    max_size=3,
)
headers = st.tuples(
    st.dictionaries(
        st.sampled_from(OVERRIDES), st.sampled_from(["POST", "post", "GET"]), max_size=2
    ),
    _noise,
).map(lambda pair: {**pair[1], **pair[0]})


def _paths(target: str) -> Iterable[str]:
    target = target.split("#", 1)[0]
    yield target
    absolute = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/]*(/.*)?$", target)
    if absolute:
        yield absolute.group(1) or "/"
    if "/" in target and not target.startswith("/"):
        yield "/" + target.split("/", 1)[1]


def _lenient(path: str) -> str:
    path = unquote(path.split("?", 1)[0], errors="replace").split("\x00", 1)[0]
    path = re.sub(r";[^/]*", "", path.replace("\\", "/"))
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment not in ("", "."):
            out.append(segment)
    return "/" + "/".join(out).lower()


def lenient_gated(method: str, raw_target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether some lenient router could read this request as a gated one."""
    names = {n.lower().encode() for n in OVERRIDES}
    verbs = {method.upper()} | {v.decode("latin-1").upper() for k, v in headers if k in names}
    if "POST" not in verbs:
        return False
    text = raw_target.decode("latin-1")
    return any(r.fullmatch(_lenient(p)) for p in _paths(text) for r in _GATED)

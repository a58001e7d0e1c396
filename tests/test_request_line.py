"""The canonical request line: which targets a gated method may carry, what rules match, and
that httpx sends a judged target byte for byte."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deconnexion.errors import InvalidInputError
from deconnexion.web.proxy import Upstream
from deconnexion.web.request_line import (
    REQUEST_LINE_KEY,
    RequestLine,
    forwarded_target,
    judged_line,
    match_key,
    without_overrides,
)
from deconnexion.web.routes import Routes


def scope(raw: bytes, query: bytes = b"", *, method: str = "POST", root: str = "") -> Any:
    """What uvicorn builds from a request line (path decoded from the raw bytes)."""
    return {
        "type": "http",
        "method": method,
        "path": root + unquote(raw.decode("latin-1")),
        "raw_path": root.encode() + raw,
        "root_path": root,
        "query_string": query,
        "headers": [],
    }


ACCEPTED = [
    (b"/api/messages", "/api/messages"),
    (b"/api/messages/", "/api/messages/"),
    (b"/api/grades/12/publish", "/api/grades/12/publish"),
    (b"/api/%6Dessages", "/api/messages"),
    (b"/api/a%2Eb", "/api/a.b"),
    (b"/api/...", "/api/..."),
    (b"/api/caf%C3%A9", "/api/café"),
    (b"/api/a%3Fb%23c%25d%252F", "/api/a?b#c%d%2F"),
    (b"/api/a:b@c!$&'()*+,=~", "/api/a:b@c!$&'()*+,=~"),
    (b"/", "/"),
]


@pytest.mark.parametrize(("raw", "path"), ACCEPTED)
def test_canonical_targets_are_accepted_with_their_decoded_path(raw: bytes, path: str) -> None:
    line = judged_line(scope(raw, b"x=1&y=%23"))
    assert line == RequestLine("POST", raw, b"x=1&y=%23", path)
    assert line.target == raw + b"?x=1&y=%23"


REFUSED = [
    (b"*", "origin-form"),
    (b"http://127.0.0.1:18082/internal", "origin-form"),
    (b"127.0.0.1:18082", "origin-form"),
    (b"@127.0.0.1:18082/internal", "origin-form"),
    (b"api/messages", "origin-form"),
    (b"/api/./messages", "dot segments"),
    (b"/api/x/../messages", "dot segments"),
    (b"/api/grades/12/x/../publish", "dot segments"),
    (b"/api/%2E/messages", "dot segments"),
    (b"/api/x/%2e%2E/messages", "dot segments"),
    (b"/api/x/.%2e/messages", "dot segments"),
    (b"/api/messages/..", "dot segments"),
    (b"/api/messages#x", "fragment"),
    (b"//api/messages", "empty path segments"),
    (b"/api//messages", "empty path segments"),
    (b"/api/messages//", "empty path segments"),
    (b"/api%2Fmessages", "encoded separators"),
    (b"/api%2fmessages", "encoded separators"),
    (b"/api%5Cmessages", "encoded separators"),
    (b"/api\\messages", "backslashes"),
    (b"/api/messages;x=1", "without ';'"),
    (b"/api/messages%", "percent-encoded"),
    (b"/api/messages%zz", "percent-encoded"),
    (b"/api/mes sages", "visible ASCII"),
    (b"/api/caf\xc3\xa9", "visible ASCII"),
    (b"/api/{x}", "visible ASCII"),
    (b"/api/messages|x", "visible ASCII"),
    (b"/api/messages%00", "control character"),
    (b"/api/messages%0A", "control character"),
    (b"/api/messages%C2%85", "control character"),
    (b"/api/%FF", "not UTF-8"),
]


@pytest.mark.parametrize(("raw", "why"), REFUSED)
def test_non_canonical_targets_are_refused_saying_why(raw: bytes, why: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        judged_line(scope(raw))
    message = str(info.value)
    assert why in message
    assert repr(raw.decode("latin-1")) in message  # the value received


@pytest.mark.parametrize("query", [b"a=1#frag", b'a="x"', b"a=<b>", b"a=\xc3\xa9", b"a b"])
def test_a_query_that_would_not_be_forwarded_as_sent_is_refused(query: bytes) -> None:
    with pytest.raises(InvalidInputError, match="request target"):
        judged_line(scope(b"/api/messages", query))


def test_a_path_that_does_not_decode_to_the_servers_path_is_refused() -> None:
    lying = scope(b"/api/other")
    lying["path"] = "/api/messages"
    with pytest.raises(InvalidInputError, match="does not decode to the server's path"):
        judged_line(lying)


def test_root_path_is_below_what_rules_match_whether_or_not_raw_path_has_it() -> None:
    assert judged_line(scope(b"/api/messages", root="/ent")).path == "/api/messages"
    without = scope(b"/api/messages", root="/ent")
    without["raw_path"] = b"/api/messages"  # servers that leave root_path out of raw_path
    assert judged_line(without).path == "/api/messages"


def test_a_server_without_raw_path_is_judged_on_its_path_encoded_again() -> None:
    bare = scope(b"/api/caf%C3%A9")
    del bare["raw_path"]
    assert judged_line(bare).raw_path == b"/api/caf%C3%A9"


def test_the_line_is_computed_once_and_forwarded_as_judged() -> None:
    s = scope(b"/api/messages", b"x=1")
    line = judged_line(s)
    assert s[REQUEST_LINE_KEY] is line and judged_line(s) is line
    s["raw_path"] = b"/elsewhere"  # a later change of the scope is not what is forwarded
    assert forwarded_target(s) == (b"/api/messages", b"x=1")


@pytest.mark.parametrize("raw", [b"*", b"@127.0.0.1:1/internal", b"http://a/b", b"a:1"])
def test_only_origin_form_is_forwarded_on_any_method(raw: bytes) -> None:
    with pytest.raises(InvalidInputError, match="origin-form"):
        forwarded_target(scope(raw, method="GET"))


def test_a_non_gated_target_is_forwarded_as_received() -> None:
    assert forwarded_target(scope(b"/files/a%2Fb//c", b"q=1", method="GET")) == (
        b"/files/a%2Fb//c",
        b"q=1",
    )


@pytest.mark.parametrize(
    ("path", "key"),
    [("/api/messages", "/api/messages"), ("/API/Messages/", "/api/messages"), ("/", "/")],
)
def test_match_key_ignores_case_and_one_trailing_slash(path: str, key: str) -> None:
    assert match_key(path) == key


def test_rules_match_case_insensitively_with_or_without_a_trailing_slash() -> None:
    routes = Routes(
        [
            {"path": "/api/messages"},
            {"path": "/api/grades/{id}/publish", "methods": ["POST", "PUT"]},
        ]
    )
    for path in ("/api/messages", "/API/MESSAGES", "/api/messages/", "/Api/Messages/"):
        found = routes.match("POST", path)
        assert found is not None and found.rule.path == "/api/messages"
    for method in ("POST", "PUT"):
        found = routes.match(method, "/API/Grades/AbC/Publish/")
        assert found is not None and found.params == {"id": "AbC"}  # the case sent
    assert routes.match("PATCH", "/api/grades/1/publish") is None
    assert routes.match("POST", "/api/messages/x") is None


def test_method_override_headers_are_removed_and_others_kept() -> None:
    headers = [
        (b"host", b"ent"),
        (b"x-http-method-override", b"POST"),
        (b"x-http-method", b"POST"),
        (b"x-method-override", b"POST"),
        (b"x-kept", b"1"),
    ]
    assert without_overrides(headers) == [(b"host", b"ent"), (b"x-kept", b"1")]
    assert without_overrides([(b"host", b"ent")]) is None


pchar = st.sampled_from(
    [*list("abcXYZ019-._~!$&'()*+,=:@"), "%41", "%2e", "%25", "%3F", "%23", "%C3%A9", "%20"]
)
segment = st.lists(pchar, min_size=1, max_size=6).map("".join)
paths = st.lists(segment, min_size=1, max_size=5).map(lambda s: "/" + "/".join(s))
queries = st.text(st.sampled_from(list("az09=&;/?%+[]|{}^`'!$()*,:@~")), max_size=20)


@given(path=paths, query=queries)
def test_httpx_sends_every_judged_target_byte_for_byte(path: str, query: str) -> None:
    raw, q = path.encode(), query.encode()
    try:
        line = judged_line(scope(raw, q))
    except InvalidInputError:
        return  # a dot segment drawn from '.' and '%2e'
    url = Upstream("http://127.0.0.1:8080/base/").url(line.raw_path, line.query)
    assert url.raw_path == b"/base" + line.target
    assert httpx.Request("POST", url).url.raw_path == b"/base" + line.target

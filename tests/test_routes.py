"""Route rules: matching, loading from files, reading message fields from requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deconnexion.core.message import Audience, Kind
from deconnexion.errors import InvalidInputError, NaiveDatetimeError
from deconnexion.web.fields import RequestView, extract, parse_json, request_digest
from deconnexion.web.routes import RouteRule, RouteRules, Routes


def view(body: object = None, **kw: object) -> RequestView:
    raw = b"" if body is None else json.dumps(body).encode()
    base: dict[str, object] = {
        "method": "POST",
        "path": "/api/notifications",
        "params": {},
        "headers": {},
        "query": {},
        "body": raw,
        "json": {} if body is None else body,
    }
    base.update(kw)
    return RequestView(**base)  # type: ignore[arg-type]


GRADES = RouteRule(
    path="/api/grades/{id}/publish",
    kind="grade",
    audience="body:audience",
    collapse_key="path:id",
    recipients="body:recipients",
)


def test_match_reads_path_parameters() -> None:
    routes = Routes([GRADES, {"path": "/api/notifications"}])
    found = routes.match("POST", "/api/grades/42/publish")
    assert found is not None
    assert found.rule is GRADES
    assert found.params == {"id": "42"}


def test_a_get_or_an_other_path_is_not_gated() -> None:
    routes = Routes([GRADES])
    assert routes.match("GET", "/api/grades/42/publish") is None
    assert routes.match("POST", "/api/grades/42/publish/extra") is None
    assert routes.match("POST", "/api/grades/publish") is None
    assert routes.match("PUT", "/api/grades/42") is None


def test_path_parameter_of_kind_path_spans_slashes() -> None:
    routes = Routes([{"path": "/hooks/{rest:path}", "method": "post"}])
    found = routes.match("POST", "/hooks/a/b/c")
    assert found is not None and found.params == {"rest": "a/b/c"}


def test_regex_characters_in_paths_are_literal() -> None:
    routes = Routes([{"path": "/api/v1.0/notify"}])
    assert routes.match("POST", "/api/v1.0/notify") is not None
    assert routes.match("POST", "/api/v1x0/notify") is None


def test_unknown_method_is_refused_by_name() -> None:
    with pytest.raises(InvalidInputError, match="unknown method 'FETCH'"):
        Routes([{"path": "/x", "method": "FETCH"}])


def test_path_source_must_exist_in_the_pattern() -> None:
    with pytest.raises(InvalidInputError, match=r"has no \{grade\} parameter \(it has: id\)"):
        Routes([{"path": "/api/grades/{id}", "collapse_key": "path:grade"}])


def test_source_without_key_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="names no body key"):
        Routes([{"path": "/x", "audience": "body:"}])


def test_path_must_start_with_a_slash() -> None:
    with pytest.raises(InvalidInputError, match="must start with '/'"):
        Routes([{"path": "api/x"}])


def test_routes_file_toml(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(
        'default_uai = "0750001A"\n[[routes]]\nmethod = "POST"\n'
        'path = "/api/grades/{id}/publish"\nkind = "grade"\n'
        'audience = ["body:audience", "parents"]\n',
        encoding="utf-8",
    )
    rules = RouteRules.from_file(path)
    assert rules.default_uai == "0750001A"
    assert rules.max_body == 1024 * 1024
    routes = rules.compile()
    assert len(routes) == 1
    assert routes.rules[0].audience == ("body:audience", "parents")


def test_the_example_routes_file_is_valid() -> None:
    rules = RouteRules.from_file(Path(__file__).resolve().parents[1] / "examples" / "routes.toml")
    assert rules.compile().match("POST", "/api/grades/12/publish") is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[route]]\npath = "/x"\n', "routes: Field required"),
        ("routes = []\n", "routes: Tuple should have at least 1 item"),
        ('default_uai = "ZZZ"\n[[routes]]\npath = "/x"\n', "default_uai"),
        ('[[routes]]\npath = "/x/{id}"\ncollapse_key = "path:y"\n', "has no {y} parameter"),
        ('max_body = -1\n[[routes]]\npath = "/x"\n', "max_body"),
        ("[[routes]\n", "not valid TOML"),
    ],
)
def test_bad_routes_files_name_the_file_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError) as err:
        RouteRules.from_file(path)
    assert message in str(err.value)
    assert "routes.toml" in str(err.value)


def test_extract_reads_body_path_and_constants() -> None:
    rule = Routes([GRADES]).rules[0]
    got = extract(
        rule,
        view({"audience": "parents", "recipients": ["p1", 2]}, params={"id": "42"}),
    )
    assert got.kind is Kind.GRADE
    assert got.audiences == (Audience.PARENTS,)
    assert got.recipients == ("p1", "2")
    assert got.collapse_key == "42"
    assert got.urgent is False


def test_first_present_source_wins() -> None:
    rule = RouteRule(path="/x", audience=("body:audience", "header:X-Audience", "staff"))
    assert extract(rule, view({})).audiences == (Audience.STAFF,)
    assert extract(rule, view({}, headers={"x-audience": "parents"})).audiences == (
        Audience.PARENTS,
    )
    assert extract(rule, view({"audience": "students"})).audiences == (Audience.STUDENTS,)


def test_nested_body_keys_and_french_aliases() -> None:
    rule = RouteRule(path="/x", kind="body:n.type", audience="body:n.pour")
    got = extract(rule, view({"n": {"type": "Devoir", "pour": ["élèves", "familles"]}}))
    assert got.kind is Kind.HOMEWORK
    assert got.audiences == (Audience.STUDENTS, Audience.PARENTS)


def test_bad_audience_names_field_source_value_and_accepted() -> None:
    rule = RouteRule(path="/x", audience="body:audience")
    with pytest.raises(InvalidInputError) as err:
        extract(rule, view({"audience": "voisins"}))
    text = str(err.value)
    assert "audience: 'voisins' (from body:audience)" in text
    assert "students, parents, staff" in text


def test_missing_audience_says_where_it_was_looked_for() -> None:
    rule = RouteRule(path="/x", audience="body:audience")
    with pytest.raises(InvalidInputError, match=r"audience: missing \(read from body:audience\)"):
        extract(rule, view({}))


def test_urgent_header_and_percent_encoded_justification() -> None:
    rule = RouteRule(path="/x")
    got = extract(
        rule,
        view(
            headers={
                "deconnexion-urgent": "oui",
                "deconnexion-justification": "Fermeture%20%C3%A9cole",
            }
        ),
    )
    assert got.urgent is True
    assert got.justification == "Fermeture école"


def test_urgent_must_be_a_yes_no_value() -> None:
    with pytest.raises(InvalidInputError, match="not a yes/no value"):
        extract(RouteRule(path="/x"), view(headers={"deconnexion-urgent": "peut-être"}))


def test_publish_to_students_at_refuses_naive_instants() -> None:
    rule = RouteRule(path="/x", kind="grade", publish_to_students_at="body:at")
    got = extract(rule, view({"at": "2025-11-03T07:00:00+01:00"}))
    assert got.publish_to_students_at == datetime(2025, 11, 3, 6, tzinfo=UTC)
    with pytest.raises(NaiveDatetimeError):
        extract(rule, view({"at": "2025-11-03T07:00:00"}))


def test_extractor_callable_overrides_declarations() -> None:
    def pick(v: RequestView) -> dict[str, object]:
        return {"audience": "parents" if v.json.get("to_families") else "students"}

    rule = RouteRule(path="/x", extract=pick)
    assert extract(rule, view({"to_families": True})).audiences == (Audience.PARENTS,)


def test_extractor_returning_unknown_fields_is_a_programming_error() -> None:
    rule = RouteRule(path="/x", extract=lambda v: {"audiance": "parents"})
    with pytest.raises(TypeError, match="unknown fields"):
        extract(rule, view({}))


def test_too_long_idempotency_key_is_refused() -> None:
    rule = RouteRule(path="/x")
    with pytest.raises(InvalidInputError, match="at most 200"):
        extract(rule, view(headers={"idempotency-key": "k" * 201}))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{bad", "malformed JSON at line 1, column 2"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_parse_json_errors_are_clear(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_json(body)


def test_empty_body_is_an_empty_object() -> None:
    assert parse_json(b"  ") == {}


def test_request_digest_depends_on_sender_and_body() -> None:
    a = request_digest(view({"x": 1}), "t1")
    assert a == request_digest(view({"x": 1}), "t1")
    assert a != request_digest(view({"x": 1}), "t2")
    assert a != request_digest(view({"x": 2}), "t1")

"""The decision service (`deconnexion serve`): the CLI's requests and answers over HTTP, batch
forms, errors as `{"error": {...}}` with 400 and never a 500, OpenAPI generated and valid."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from deconnexion.cli import main
from deconnexion.core.answers import DecisionAnswer
from deconnexion.core.requests import ReleaseRequest
from deconnexion.web.decide import ENDPOINTS, DecisionService

SERVICE = DecisionService()
FRIDAY_21H = {"created": "2025-11-14T21:00:00+01:00", "kind": "message", "audience": "parents"}


def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=SERVICE)
        async with httpx.AsyncClient(transport=transport, base_url="http://decide") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_decide_answers_the_same_json_as_the_cli(capsys):
    r = call("POST", "/v1/decide", json={**FRIDAY_21H, "zone": "C"})
    assert r.status_code == 200
    expected = cli_json(
        capsys,
        "release",
        "--created",
        FRIDAY_21H["created"],
        "--kind",
        "message",
        "--audience",
        "parents",
        "--zone",
        "C",
    )
    assert r.json() == expected
    assert r.json()["release_at"] == "2025-11-17T07:00:00+01:00"


def test_check_answers_the_same_json_as_the_cli(capsys):
    r = call("POST", "/v1/check", json={"instant": "2025-11-14T20:00:00+01:00", "zone": "C"})
    assert r.status_code == 200
    assert r.json() == cli_json(capsys, "check", "2025-11-14T20:00:00+01:00", "--zone", "C")
    assert r.json()["quiet"] is True


def test_windows_by_query_answers_the_same_json_as_the_cli(capsys):
    params = {"from": "2025-12-19", "to": "2026-01-06", "zone": "B"}
    r = call("GET", "/v1/windows", params=params)
    assert r.status_code == 200
    expected = cli_json(
        capsys, "windows", "--from", "2025-12-19", "--to", "2026-01-06", "--zone", "B"
    )
    assert r.json() == expected
    assert call("POST", "/v1/windows", json=params).json() == expected


@pytest.mark.parametrize("wrap", [lambda xs: xs, lambda xs: {"items": xs}], ids=["list", "items"])
def test_decide_batch_answers_in_order_with_an_error_in_place_of_a_bad_item(wrap):
    items = [
        {**FRIDAY_21H, "zone": "C"},
        {**FRIDAY_21H, "zone": "C", "kind": "grades"},
        {**FRIDAY_21H, "zone": "Réunion"},
    ]
    r = call("POST", "/v1/decide", json=wrap(items))
    assert r.status_code == 200
    first, bad, third = r.json()
    assert first["release_at"] == "2025-11-17T07:00:00+01:00"
    assert bad["error"]["code"] == "invalid_choice" and bad["error"]["value"] == "grades"
    assert third["timezone"] == "Indian/Reunion"


def test_check_batch_of_several_establishments():
    items = [{"instant": "2025-11-14T19:59:00+01:00", "zone": z} for z in ("A", "B", "C")]
    r = call("POST", "/v1/check", json=items)
    assert [x["quiet"] for x in r.json()] == [False, False, False]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({**FRIDAY_21H, "zone": "C", "kind": "grades"}, "invalid_choice", "kind"),
        ({**FRIDAY_21H}, "missing_field", "zone"),
        ({**FRIDAY_21H, "zone": "D"}, "unknown_territory", "zone"),
        (
            {**FRIDAY_21H, "zone": "C", "created": "2025-11-14T21:00:00"},
            "naive_datetime",
            "created",
        ),
        ({**FRIDAY_21H, "zone": "C", "urgent": 1}, "invalid_input", "urgent"),
        ({**FRIDAY_21H, "zone": "C", "kind": 10**40}, "invalid_choice", "kind"),
        ({**FRIDAY_21H, "zone": "C", "extra": True}, "unknown_field", "extra"),
        ("just a string", "invalid_request", None),
    ],
)
def test_bad_single_request_is_400_naming_field_value_and_accepted(body, code, field):
    r = call("POST", "/v1/decide", content=json.dumps(body))
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"code", "field", "value", "accepted", "message"}
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"zone": "C", "instant": ' + b"9" * 100_000 + b"}",
        b'{"zone": "\\ud800"}',
        b'{"zone": "\xff"}',
        b"",
        b"{",
        b'{"zone": "C", "instant": NaN}',
    ],
    ids=["deep", "huge-int", "surrogate", "not-utf8", "empty", "truncated", "nan"],
)
def test_hostile_bodies_are_400_with_a_json_error(raw):
    r = call("POST", "/v1/check", content=raw)
    assert r.status_code == 400
    assert r.json()["error"]["code"]


def test_a_huge_integer_in_a_field_is_shown_as_text_not_echoed():
    r = call("POST", "/v1/check", content=b'{"zone": ' + b"7" * 4000 + b"}")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["field"] == "zone" and "digits" in error["value"]


def test_unknown_route_404_and_wrong_method_405_in_the_error_shape():
    assert call("GET", "/v1/nope").json()["error"]["code"] == "not_found"
    r = call("GET", "/v1/decide")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_query_parameter_given_twice_is_400():
    r = call("GET", "/v1/windows?from=2025-12-19&to=2026-01-06&zone=B&zone=C")
    assert r.status_code == 400 and r.json()["error"]["field"] == "zone"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=12,
    ),
    st.sampled_from(["/v1/decide", "/v1/check", "/v1/windows"]),
)
def test_no_json_body_ever_gets_a_500(body, path):
    r = call("POST", path, content=json.dumps(body))
    assert r.status_code in (200, 400)
    data = r.json()
    if r.status_code == 400:
        assert set(data["error"]) == {"code", "field", "value", "accepted", "message"}


def test_openapi_is_valid_describes_every_route_and_is_generated_from_the_models():
    doc = call("GET", "/openapi.json").json()
    validate(doc)
    assert set(doc["paths"]) == {*ENDPOINTS, "/openapi.json"}
    assert set(doc["paths"]["/v1/windows"]) == {"get", "post"}
    schemas = doc["components"]["schemas"]
    # Generated, not written: the models' own fields are the documented ones.
    assert set(schemas["ReleaseRequest"]["properties"]) == {
        f.alias or name for name, f in ReleaseRequest.model_fields.items()
    }
    assert set(schemas["DecisionAnswer"]["properties"]) == set(DecisionAnswer.model_fields)
    params = {p["name"] for p in doc["paths"]["/v1/windows"]["get"]["parameters"]}
    assert {"from", "to", "zone", "uai", "audience"} <= params
    body = doc["paths"]["/v1/decide"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][0] == {"$ref": "#/components/schemas/ReleaseRequest"}


def test_decide_under_a_policy_with_expiry_documents_and_returns_expires_at():
    from deconnexion.core.policy import Policy

    service = DecisionService(
        Policy.from_mapping({"expires_after": {"message": "48h"}}, source="t")
    )

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=service)
        async with httpx.AsyncClient(transport=transport, base_url="http://decide") as client:
            return await client.post("/v1/decide", json={**FRIDAY_21H, "zone": "C"})

    r = asyncio.run(go())
    assert r.status_code == 200
    assert r.json()["expires_at"] == "2025-11-16T21:00:00+01:00"

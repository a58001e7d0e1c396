"""The admin API's OpenAPI document: valid OpenAPI 3.1 (openapi-spec-validator), every route
served is described and nothing else, typed by the models the handlers answer with (real
answers validate against it), a security scheme, and the 202 hold contract of gated routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from test_admin import PARIS, Setup
from test_freeze_time import VendorApp

from deconnexion.store import MemoryStore
from deconnexion.web.admin import admin_app
from deconnexion.web.admin_openapi import openapi
from deconnexion.web.routes import RouteRules

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]
ROUTES = RouteRules.from_file(ROOT / "examples" / "routes.toml")
GATED = [(m, rule.path) for rule in ROUTES.routes for m in rule.methods]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _served(app: Any) -> set[tuple[str, str]]:
    return {(m, r.path) for r in app.routes for m in r.methods if m != "HEAD"}


def _described(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}


def _check(doc: dict[str, Any], model: str, body: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{model}", "components": doc["components"]}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("gated", [[], GATED], ids=["admin", "with gated routes"])
def test_document_is_valid_openapi_3_1(gated: list[tuple[str, str]]) -> None:
    doc = openapi(gated)
    validate(doc)
    assert doc["openapi"] == "3.1.0"


async def test_every_route_of_the_admin_app_is_described_and_nothing_else() -> None:
    app = admin_app(MemoryStore())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        served_doc = (await client.get("/openapi.json")).json()
    assert _served(app) == _described(served_doc)
    assert len(_served(app)) == 10


def test_every_json_answer_is_a_typed_model_and_callers_need_the_security_scheme() -> None:
    doc = openapi()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            ok = op["responses"]["200"]["content"]
            if "application/json" in ok and path != "/openapi.json":
                assert "$ref" in ok["application/json"]["schema"], (method, path)
    assert doc["paths"]["/stats"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/StatsBody"}
    assert "DeconnexionSender" in doc["components"]["securitySchemes"]
    assert doc["security"] == [{"DeconnexionSender": []}]
    assert doc["paths"]["/health"]["get"]["security"] == []


def test_gated_routes_carry_the_202_hold_contract() -> None:
    doc = openapi(GATED)
    held = doc["paths"]["/api/grades/{id}/publish"]["post"]["responses"]["202"]
    assert held["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HeldAnswer"
    }
    assert "Deconnexion-Release-At" in held["headers"]
    assert doc["paths"]["/api/messages"]["post"]["servers"] == [{"url": "/"}]


async def test_real_admin_answers_validate_against_the_document() -> None:
    s = Setup()
    doc = openapi()
    answers = {
        "HeldList": await s.call("GET", "/held", "chef"),
        "Held": await s.call("GET", f"/held/{s.paris_prof}", "chef"),
        "StatsBody": await s.call("GET", "/stats", "chef"),
        "Health": await s.call("GET", "/health"),
        "Error": await s.call("GET", "/held/nope", "chef"),
    }
    answers["Changed"] = await s.call("POST", f"/held/{s.paris_prof}/release", "chef")
    answers["AuditList"] = await s.call("GET", "/audit", "chef")
    for model, response in answers.items():
        _check(doc, model, response.json())
    assert answers["AuditList"].json()["items"] and answers["HeldList"].json()["items"]
    assert PARIS.key == answers["StatsBody"].json()["establishment"]


def test_a_held_request_answer_validates_against_the_hold_contract() -> None:
    from freezegun import freeze_time

    vendor = VendorApp()
    with freeze_time("2025-11-04 22:00:00+01:00"):
        answer = vendor.post("Sortie annulée")
    assert answer.status_code == 202
    _check(openapi(), "HeldAnswer", answer.json())


async def test_admin_app_serves_the_gated_contract_it_is_given() -> None:
    transport = httpx.ASGITransport(app=admin_app(MemoryStore(), gated=GATED))
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        doc = (await client.get("/openapi.json")).json()
    validate(doc)
    assert "202" in doc["paths"]["/api/notifications"]["post"]["responses"]

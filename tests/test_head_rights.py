"""Head rights only for a head proven to be of *that* establishment: a chef_etablissement whose
identity carries no UAI, or another establishment's, gets neither the urgent override nor the
admin API's head rights at the default establishment; /metrics needs a login."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _asgi_support import QUIET, USERS, Clock, fake_auth
from test_admin import PARIS, STRASBOURG, hold
from test_middleware import Setup

from deconnexion.errors import InvalidInputError
from deconnexion.hold.queue import HoldQueue
from deconnexion.store import MemoryStore
from deconnexion.web.admin import admin_app
from deconnexion.web.identity import SenderUser
from deconnexion.web.tenant import fixed, from_sender

pytestmark = pytest.mark.anyio

TOKEN = "scraper-token-0123456789"
URGENT = {
    "Deconnexion-Urgent": "1",
    "Deconnexion-Justification": "Fermeture%20du%20coll%C3%A8ge",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def heads_without_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(USERS, "chef-sans-uai", SenderUser("m.x", "chef_etablissement", None))
    monkeypatch.setitem(USERS, "directeur-sans-uai", SenderUser("m.y", "directeur_ecole", None))


# -- the urgent override -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["chef-sans-uai", "directeur-sans-uai"])
async def test_a_head_without_a_uai_cannot_override_at_the_default_establishment(who: str) -> None:
    s = Setup(QUIET)  # from_sender(PARIS_SCHOOL): senders without a UAI are placed there
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={"Authorization": who, **URGENT},
        )
    assert r.status_code == 202
    assert s.upstream.seen == []
    refused = [x for x in r.json()["reasons"] if x["code"] == "urgent_refused"]
    assert [x["label_en"] for x in refused] == [
        "Urgent flag not honoured: sender's establishment not proven (identity without a UAI)"
    ]
    assert "urgent_refused" in s.audit() and "urgent_override" not in s.audit()


async def test_a_head_of_another_establishment_cannot_override_here() -> None:
    s = Setup(QUIET, establishment=fixed(PARIS))
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={"Authorization": "chef-strasbourg", **URGENT},
        )
    assert r.status_code == 202 and s.upstream.seen == []


async def test_the_head_of_this_establishment_still_overrides() -> None:
    s = Setup(QUIET)
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={"Authorization": "chef", **URGENT},
        )
    assert r.status_code == 201 and len(s.upstream.seen) == 1
    assert "urgent_override" in s.audit()


# -- the admin API -----------------------------------------------------------------------------


class Admin:
    def __init__(self, **options: Any) -> None:
        self.store = MemoryStore()
        queue = HoldQueue(self.store)
        self.paris = hold(queue, PARIS, "m.martin", "k1")
        self.paris_2 = hold(queue, PARIS, "someone.else", "k2")
        self.strasbourg = hold(queue, STRASBOURG, "mme.weber", "k3")
        options.setdefault("establishment", from_sender(PARIS))
        self.app = fake_auth(admin_app(self.store, clock=Clock(QUIET + 60), **options))

    async def call(
        self, method: str, path: str, authorization: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": authorization} if authorization else {}
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
            return await c.request(method, path, headers=headers)


@pytest.mark.parametrize("who", ["chef-sans-uai", "directeur-sans-uai"])
async def test_a_head_without_a_uai_has_no_head_rights_in_the_admin_api(who: str) -> None:
    a = Admin()
    listed = await a.call("GET", "/held", who)
    assert listed.status_code == 200 and listed.json()["items"] == []  # only her own: none
    assert (await a.call("GET", f"/held/{a.paris}", who)).status_code == 404
    assert (await a.call("POST", f"/held/{a.paris}/release", who)).status_code == 403
    assert (await a.call("POST", f"/held/{a.paris}/cancel", who)).status_code == 404
    assert (await a.call("GET", "/audit", who)).status_code == 403
    assert a.store.get(PARIS.key, a.paris).state == "held"  # type: ignore[union-attr]


async def test_the_head_of_this_establishment_keeps_her_rights() -> None:
    a = Admin()
    assert len((await a.call("GET", "/held", "chef")).json()["items"]) == 2
    assert (await a.call("POST", f"/held/{a.paris}/release", "chef")).status_code == 200
    assert (await a.call("GET", "/audit", "chef")).status_code == 200


# -- /metrics ----------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789", "nobody"])
async def test_metrics_refuse_an_anonymous_caller_and_show_nothing(
    authorization: str | None,
) -> None:
    a = Admin(metrics_token=TOKEN)
    r = await a.call("GET", "/metrics", authorization)
    assert r.status_code == 401
    assert "deconnexion_" not in r.text and "0671234X" not in r.text


@pytest.mark.parametrize("who", ["prof", "chef-sans-uai"])
async def test_metrics_are_not_for_teachers_nor_unproven_heads(who: str) -> None:
    r = await Admin().call("GET", "/metrics", who)
    assert r.status_code == 403 and "deconnexion_held" not in r.text


async def test_a_head_sees_the_metrics_of_her_establishment_only() -> None:
    r = await Admin().call("GET", "/metrics", "chef")
    assert r.status_code == 200
    assert "deconnexion_held_messages 2" in r.text  # Paris's two, not Strasbourg's


async def test_the_metrics_token_sees_every_establishment() -> None:
    r = await Admin(metrics_token=TOKEN).call("GET", "/metrics", f"Bearer {TOKEN}")
    assert r.status_code == 200
    assert "deconnexion_held_messages 3" in r.text


def test_a_short_metrics_token_is_refused_at_start() -> None:
    with pytest.raises(InvalidInputError, match="metrics_token: 5 characters is too short"):
        admin_app(MemoryStore(), metrics_token="12345")

"""Who sends: scope identity, signed headers (forgeries never open the gate), tenants."""

from __future__ import annotations

import pytest

from deconnexion.core.message import SenderRole
from deconnexion.core.territories import Establishment
from deconnexion.errors import InvalidInputError, UnknownTerritoryError
from deconnexion.web.identity import ANONYMOUS, ScopeIdentity, Sender, SenderUser, parse_role
from deconnexion.web.signing import SignedHeaderResolver, sign_sender
from deconnexion.web.tenant import by_uai, fixed, from_header, from_sender, same_establishment

SECRET = "s3cret-s3cret-s3cret-0123456789"
NOW = 1_762_000_000.0


class Creds:
    def __init__(self, scopes: list[str]) -> None:
        self.scopes = scopes


class Unauthenticated:
    is_authenticated = False


def scope_with(value: str | bytes | None, name: bytes = b"deconnexion-sender") -> dict[str, object]:
    headers = [] if value is None else [(name, value.encode() if isinstance(value, str) else value)]
    return {"type": "http", "headers": headers}


# -- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("chef_etablissement", SenderRole.CHEF_ETABLISSEMENT),
        ("Chef d'établissement", SenderRole.CHEF_ETABLISSEMENT),
        ("Proviseure", SenderRole.CHEF_ETABLISSEMENT),
        ("directrice d'école", SenderRole.DIRECTEUR_ECOLE),
        ("teacher", SenderRole.TEACHER),
        ("superadmin", None),
        (42, None),
    ],
)
def test_parse_role(text: object, role: SenderRole | None) -> None:
    assert parse_role(text) is role


# -- scope identity ----------------------------------------------------------------------------


def test_scope_identity_reads_user_attributes() -> None:
    user = SenderUser("mme.dupont", "chef_etablissement", "0750001A")
    sender = ScopeIdentity()({"user": user})
    assert sender == Sender("mme.dupont", SenderRole.CHEF_ETABLISSEMENT, "0750001A", True)
    assert sender.is_head


def test_scope_identity_reads_auth_scopes_when_user_has_no_role() -> None:
    class User:
        is_authenticated = True
        identity = "prof1"

    sender = ScopeIdentity()({"user": User(), "auth": Creds(["authenticated", "role:teacher"])})
    assert sender.role is SenderRole.TEACHER
    assert sender.id == "prof1"
    assert not sender.is_head


def test_scope_identity_accepts_mapping_users() -> None:
    user = {"is_authenticated": True, "id": 7, "role": "directeur_ecole", "uai": "0671234X"}
    sender = ScopeIdentity()({"user": user})
    assert sender.id == "7" and sender.role is SenderRole.DIRECTEUR_ECOLE


@pytest.mark.parametrize("scope", [{}, {"user": None}, {"user": Unauthenticated()}])
def test_unauthenticated_scope_is_anonymous(scope: dict[str, object]) -> None:
    assert ScopeIdentity()(scope) is ANONYMOUS


def test_sender_round_trips_through_dict() -> None:
    sender = Sender("a", SenderRole.CPE, "0750001A", True)
    assert Sender.from_dict(sender.to_dict()) == sender
    assert Sender.from_dict({"role": "chef_etablissement"}) is ANONYMOUS


# -- signed header -----------------------------------------------------------------------------


def resolver() -> SignedHeaderResolver:
    return SignedHeaderResolver(SECRET, clock=lambda: NOW)


def test_signed_header_gives_the_signed_sender() -> None:
    value = sign_sender(SECRET, "mme.dupont", "chef_etablissement", "0750001A", NOW + 600)
    sender = resolver()(scope_with(value))
    assert sender == Sender("mme.dupont", SenderRole.CHEF_ETABLISSEMENT, "0750001A", True)


def test_ids_with_separators_and_accents_survive_signing() -> None:
    value = sign_sender(SECRET, "jean;éric", "teacher", None, NOW + 60)
    assert resolver()(scope_with(value)).id == "jean;éric"


def test_forged_role_is_ignored() -> None:
    value = sign_sender(SECRET, "prof1", "teacher", "0750001A", NOW + 600)
    forged = value.replace("teacher", "chef_etablissement", 1)
    assert resolver()(scope_with(forged)) is ANONYMOUS


def test_unsigned_or_wrongly_signed_headers_are_anonymous() -> None:
    other = sign_sender("another-secret-0123456789", "x", "chef_etablissement", None, NOW + 60)
    for value in [
        "x;chef_etablissement;0750001A;9999999999",
        "x;chef_etablissement;0750001A;9999999999;",
        other,
        "",
        "é",
    ]:
        assert resolver()(scope_with(value)) is ANONYMOUS, value


def test_expired_or_too_long_lived_tokens_are_anonymous() -> None:
    assert resolver()(scope_with(sign_sender(SECRET, "x", "teacher", None, NOW))) is ANONYMOUS
    far = sign_sender(SECRET, "x", "teacher", None, NOW + 10 * 24 * 3600)
    assert resolver()(scope_with(far)) is ANONYMOUS


def test_two_sender_headers_are_not_trusted() -> None:
    value = sign_sender(SECRET, "x", "teacher", None, NOW + 60).encode()
    scope = {"headers": [(b"deconnexion-sender", value), (b"Deconnexion-Sender", value)]}
    assert resolver()(scope) is ANONYMOUS


def test_short_secret_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="too short"):
        SignedHeaderResolver("short")


# -- establishments ----------------------------------------------------------------------------

PARIS = Sender("p", SenderRole.TEACHER, "0750001A", True)


def test_from_sender_resolves_the_uai() -> None:
    found = from_sender()({}, PARIS)
    assert found is not None and found.key == "0750001A"
    assert from_sender()({}, ANONYMOUS) is None


def test_from_sender_bad_uai_names_it() -> None:
    with pytest.raises(UnknownTerritoryError):
        from_sender()({}, Sender("p", SenderRole.TEACHER, "ZZZ", True))


def test_by_uai_only_knows_configured_establishments() -> None:
    resolve = by_uai([Establishment(uai="0750001A")])
    assert resolve({}, PARIS) is not None
    with pytest.raises(UnknownTerritoryError, match="not configured"):
        resolve({}, Sender("p", SenderRole.TEACHER, "0671234X", True))


def test_fixed_and_header_resolvers() -> None:
    lyon = Establishment(zone="A", id="lyon-1")
    assert fixed(lyon)({}, ANONYMOUS) is lyon
    found = from_header()({"headers": [(b"deconnexion-uai", b"0671234X")]}, ANONYMOUS)
    assert found is not None and found.uai == "0671234X"


def test_same_establishment() -> None:
    paris = Establishment(uai="0750001A")
    assert same_establishment(PARIS, paris)
    assert not same_establishment(Sender("x", None, "0671234X", True), paris)
    assert same_establishment(Sender("x", None, None, True), paris)

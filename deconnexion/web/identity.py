"""Who sends a request: a `Sender` read from the ASGI scope by a pluggable resolver.

The default, `ScopeIdentity`, trusts only what the application's authentication already put in
the scope (Starlette's `AuthenticationMiddleware`: ``scope["user"]`` and ``scope["auth"]``).
For the gateway, `deconnexion.web.signing.SignedHeaderResolver` verifies a signed header. A
resolver never raises on bad input: anything it cannot trust is the anonymous sender, whose
urgent flag is never honoured.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deconnexion.core.message import SenderRole
from deconnexion.core.policy import HEAD_ROLES

__all__ = [
    "ANONYMOUS",
    "IdentityResolver",
    "ScopeIdentity",
    "Sender",
    "SenderUser",
    "parse_role",
]


@dataclass(frozen=True, slots=True)
class Sender:
    """An authenticated sender (id, role, establishment UAI or key), or `ANONYMOUS`."""

    id: str | None = None
    role: SenderRole | None = None
    establishment: str | None = None
    authenticated: bool = False

    @property
    def is_head(self) -> bool:
        """Authenticated as a school director or head of establishment."""
        return self.authenticated and self.role in HEAD_ROLES

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": None if self.role is None else self.role.value,
            "establishment": self.establishment,
            "authenticated": self.authenticated,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sender:
        """Inverse of `to_dict` (used to replay a held request as its sender)."""
        if not data.get("authenticated"):
            return ANONYMOUS
        return cls(
            id=_str(data.get("id")),
            role=parse_role(data.get("role")),
            establishment=_str(data.get("establishment")),
            authenticated=True,
        )


ANONYMOUS = Sender()

IdentityResolver = Callable[[Mapping[str, Any]], Sender]


class SenderUser:
    """A user object compatible with Starlette's `BaseUser`, carrying role and UAI.

    Applications may return it from their authentication backend; the middleware also puts one
    in the scope when it replays a held request, so endpoints see the original sender.
    """

    is_authenticated = True

    def __init__(self, id: str, role: str | SenderRole, uai: str | None = None) -> None:
        self.id = id
        self.role = role.value if isinstance(role, SenderRole) else role
        self.uai = uai

    @property
    def identity(self) -> str:
        return self.id

    @property
    def display_name(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"SenderUser({self.id!r}, {self.role!r}, {self.uai!r})"


_ROLE_ALIASES = {
    "chef_d_etablissement": SenderRole.CHEF_ETABLISSEMENT,
    "principal": SenderRole.CHEF_ETABLISSEMENT,
    "principale": SenderRole.CHEF_ETABLISSEMENT,
    "proviseur": SenderRole.CHEF_ETABLISSEMENT,
    "proviseure": SenderRole.CHEF_ETABLISSEMENT,
    "directeur_d_ecole": SenderRole.DIRECTEUR_ECOLE,
    "directrice_d_ecole": SenderRole.DIRECTEUR_ECOLE,
    "directrice_ecole": SenderRole.DIRECTEUR_ECOLE,
    "enseignant": SenderRole.TEACHER,
    "enseignante": SenderRole.TEACHER,
    "professeur": SenderRole.TEACHER,
}


def parse_role(value: Any) -> SenderRole | None:
    """A `SenderRole` from its value or a common French title; None when not recognised."""
    if isinstance(value, SenderRole):
        return value
    if not isinstance(value, str):
        return None
    folded = unicodedata.normalize("NFKD", value.strip().lower())
    key = "".join(c for c in folded if not unicodedata.combining(c))
    key = key.replace(" ", "_").replace("-", "_").replace("'", "_").replace("’", "_")
    try:
        return SenderRole(key)
    except ValueError:
        return _ROLE_ALIASES.get(key)


class ScopeIdentity:
    """Read the sender from what authentication put in the scope.

    The user (``scope["user"]``, an object or a mapping) must be authenticated; its id, role
    and establishment are read from the first attribute/key found among `id_fields`,
    `role_fields`, `establishment_fields`, else from ``scope["auth"].scopes`` entries such as
    ``"role:chef_etablissement"`` and ``"uai:0750001A"``.
    """

    def __init__(
        self,
        *,
        id_fields: Iterable[str] = ("id", "identity", "username", "display_name"),
        role_fields: Iterable[str] = ("role",),
        establishment_fields: Iterable[str] = ("uai", "establishment"),
    ) -> None:
        self.id_fields = tuple(id_fields)
        self.role_fields = tuple(role_fields)
        self.establishment_fields = tuple(establishment_fields)

    def __call__(self, scope: Mapping[str, Any]) -> Sender:
        user = scope.get("user")
        if user is None or not _field(user, ("is_authenticated",)):
            return ANONYMOUS
        grants = _grants(scope.get("auth"))
        role_value = _field(user, self.role_fields) or grants.get("role")
        uai = _field(user, self.establishment_fields) or grants.get("uai")
        return Sender(
            id=_str(_field(user, self.id_fields)),
            role=parse_role(role_value),
            establishment=_str(uai),
            authenticated=True,
        )


def _field(user: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        try:
            value = user.get(name) if isinstance(user, Mapping) else getattr(user, name, None)
        except Exception:  # BaseUser.identity raises NotImplementedError, properties may fail
            continue
        if value is not None and value != "":
            return value
    return None


def _grants(auth: Any) -> dict[str, str]:
    scopes = getattr(auth, "scopes", None)
    if not isinstance(scopes, list | tuple | frozenset | set):
        return {}
    out: dict[str, str] = {}
    for item in scopes:
        if isinstance(item, str) and ":" in item:
            key, _, value = item.partition(":")
            out.setdefault(key, value)
    return out


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None

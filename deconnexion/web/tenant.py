"""Which establishment a request belongs to: resolvers `(scope, sender) -> Establishment`.

The establishment picks the calendar a request is decided by and the tenant it is stored
under, so read it from an authenticated source: the sender (default), a fixed establishment, or
a mapping of known UAIs. `from_header` exists for deployments where a trusted front end sets
the header; never use it on a header the client controls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from deconnexion.core.caches import CACHES, Table
from deconnexion.core.territories import Establishment
from deconnexion.errors import UnknownTerritoryError
from deconnexion.web.identity import Sender

__all__ = [
    "EstablishmentResolver",
    "Fixed",
    "by_uai",
    "fixed",
    "from_header",
    "from_sender",
    "head_of",
    "member_of",
    "same_establishment",
]

EstablishmentResolver = Callable[[Mapping[str, Any], Sender], Establishment | None]

# resolving a UAI builds a validated model: once per UAI and process (deconnexion.core.caches)
_BY_UAI: Table[str, Establishment] = CACHES.table("establishments by UAI")


def _establishment(uai: str) -> Establishment:
    found = _BY_UAI.get(uai)
    if found is None:
        found = _BY_UAI.put(uai, Establishment(uai=uai))  # raises UnknownTerritoryError
    return found


def from_sender(default: Establishment | None = None) -> EstablishmentResolver:
    """The establishment whose UAI the authenticated sender carries, else `default`."""

    def resolve(scope: Mapping[str, Any], sender: Sender) -> Establishment | None:
        if sender.authenticated and sender.establishment:
            return _establishment(sender.establishment)
        return default

    return resolve


class Fixed:
    """The resolver `fixed` returns: always `establishment`, whoever sends. A named type so
    that the gate can tell its answer without asking (`deconnexion.web.exact_passes`)."""

    __slots__ = ("establishment",)

    def __init__(self, establishment: Establishment) -> None:
        self.establishment = establishment

    def __call__(self, scope: Mapping[str, Any], sender: Sender) -> Establishment | None:
        return self.establishment


def fixed(establishment: Establishment) -> EstablishmentResolver:
    """Always `establishment` (a deployment serving one school)."""
    return Fixed(establishment)


def by_uai(
    establishments: Mapping[str, Establishment] | list[Establishment],
) -> EstablishmentResolver:
    """Only the listed establishments, looked up by the sender's UAI (or key)."""
    table = (
        {k.upper(): v for k, v in establishments.items()}
        if isinstance(establishments, Mapping)
        else {name.upper(): e for e in establishments for name in (e.key, e.uai, e.id) if name}
    )

    def resolve(scope: Mapping[str, Any], sender: Sender) -> Establishment | None:
        if not (sender.authenticated and sender.establishment):
            return None
        found = table.get(sender.establishment.upper())
        if found is None:
            raise UnknownTerritoryError(
                f"establishment {sender.establishment!r} of sender {sender.id!r} is not "
                f"configured; expected one of {', '.join(sorted(table)) or '(none)'}"
            )
        return found

    return resolve


def from_header(
    header: str = "deconnexion-uai", default: Establishment | None = None
) -> EstablishmentResolver:
    """The UAI in `header`, set by a trusted front end (not by the client)."""
    name = header.lower().encode("latin-1")

    def resolve(scope: Mapping[str, Any], sender: Sender) -> Establishment | None:
        for key, value in scope.get("headers") or ():
            if key.lower() == name:
                return _establishment(value.decode("latin-1").strip())
        return default

    return resolve


def same_establishment(sender: Sender, establishment: Establishment) -> bool:
    """Whether the sender may act at `establishment` at all (a sender without one is not
    checked: the resolver that chose the establishment is then the only authority). Enough
    to see one's own messages; never enough for a head's rights (see `head_of`)."""
    if not sender.establishment:
        return True
    return member_of(sender, establishment)


def member_of(sender: Sender, establishment: Establishment) -> bool:
    """Whether the sender is *proven* to belong to `establishment`: authenticated, and its
    identity carries that establishment's UAI (or key). No UAI proves nothing: a sender
    placed at the default establishment is not one of its staff."""
    if not (sender.authenticated and sender.establishment):
        return False
    mine = sender.establishment.upper()
    return any(
        mine == name.upper()
        for name in (establishment.key, establishment.uai, establishment.id)
        if name
    )


def head_of(sender: Sender, establishment: Establishment) -> bool:
    """Head rights at `establishment` (urgent override, release now, the audit trail, every
    message of the establishment): a head of school proven to belong to *that* one."""
    return sender.is_head and member_of(sender, establishment)

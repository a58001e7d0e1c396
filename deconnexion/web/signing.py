"""A sender identity signed with a shared secret, for the gateway in front of a non-Python ENT.

The ENT signs who is sending; the gateway verifies before trusting the role::

    Deconnexion-Sender: <id>;<role>;<uai>;<expires>;<signature>

`id`, `role` and `uai` are percent-encoded UTF-8, `expires` is integer epoch seconds and
`signature` is the URL-safe base64 (no padding) of
``HMAC-SHA256(secret, "deconnexion-sender-v1;" + "<id>;<role>;<uai>;<expires>")``.
A missing, malformed, forged or expired header gives the anonymous sender: the role it claims
is ignored, so it can never open the gate. `sign_sender` builds the header value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote

from deconnexion.core.message import SenderRole
from deconnexion.core.timeutil import wall_clock
from deconnexion.errors import InvalidInputError
from deconnexion.web.identity import ANONYMOUS, Sender, parse_role

__all__ = ["SENDER_HEADER", "SignedHeaderResolver", "identity_headers", "sign_sender"]

SENDER_HEADER = "deconnexion-sender"
_CONTEXT = b"deconnexion-sender-v1;"
MIN_SECRET_BYTES = 16
MAX_HEADER_LENGTH = 2048


def _secret_bytes(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_BYTES:
        raise InvalidInputError(
            f"signing secret: {len(raw)} bytes is too short; at least {MIN_SECRET_BYTES} "
            "accepted (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw


def _mac(secret: bytes, signed: str) -> str:
    digest = hmac.new(secret, _CONTEXT + signed.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_sender(
    secret: str | bytes,
    sender_id: str,
    role: str | SenderRole,
    uai: str | None,
    expires: float,
) -> str:
    """The `Deconnexion-Sender` header value for this sender, valid until `expires` (epoch)."""
    role_text = role.value if isinstance(role, SenderRole) else role
    fields = [quote(sender_id, safe=""), quote(role_text, safe=""), quote(uai or "", safe="")]
    signed = ";".join([*fields, str(int(expires))])
    return f"{signed};{_mac(_secret_bytes(secret), signed)}"


class SignedHeaderResolver:
    """Identity resolver verifying the signed `Deconnexion-Sender` header (constant time)."""

    def __init__(
        self,
        secret: str | bytes,
        *,
        header: str = SENDER_HEADER,
        clock: Callable[[], float] = wall_clock,
        max_lifetime: float | None = 24 * 3600,
    ) -> None:
        self._secret = _secret_bytes(secret)
        self.header = header.lower().encode("latin-1")
        self.clock = clock
        # A token valid for years is a leaked password; refuse those that claim to be.
        self.max_lifetime = max_lifetime

    def __call__(self, scope: Mapping[str, Any]) -> Sender:
        values = [v for k, v in scope.get("headers") or () if k.lower() == self.header]
        if len(values) != 1:  # none, or several: which one would we trust?
            return ANONYMOUS
        return self.verify(values[0])

    def verify(self, value: bytes | str) -> Sender:
        """The sender in a header value, or ANONYMOUS when it cannot be trusted."""
        try:
            text = value.decode("ascii") if isinstance(value, bytes) else value
            text.encode("ascii")
        except (UnicodeDecodeError, UnicodeEncodeError):
            return ANONYMOUS
        if len(text) > MAX_HEADER_LENGTH:
            return ANONYMOUS
        signed, _, signature = text.strip().rpartition(";")
        parts = signed.split(";")
        if len(parts) != 4 or not hmac.compare_digest(_mac(self._secret, signed), signature):
            return ANONYMOUS
        raw_id, raw_role, raw_uai, raw_expires = parts
        try:
            expires = int(raw_expires)
        except ValueError:
            return ANONYMOUS
        now = self.clock()
        if expires <= now:
            return ANONYMOUS
        if self.max_lifetime is not None and expires - now > self.max_lifetime:
            return ANONYMOUS
        sender_id = unquote(raw_id)
        if not sender_id:
            return ANONYMOUS
        return Sender(
            id=sender_id,
            role=parse_role(unquote(raw_role)),
            establishment=unquote(raw_uai) or None,
            authenticated=True,
        )


def identity_headers(resolver: object) -> tuple[str, ...]:
    """The header a signed identity resolver reads (`SignedHeaderResolver.header`), which is
    a credential like `Authorization`: never stored, never replayed. Nothing for others."""
    header = getattr(resolver, "header", None)
    if isinstance(header, bytes):
        return (header.decode("latin-1"),)
    return (header,) if isinstance(header, str) else ()

"""The README's test vectors for the signed `Deconnexion-Sender` header: what an ENT in any
language must produce (tests/integration/test_php_sender.py runs the PHP snippet on them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deconnexion.web.signing import SignedHeaderResolver, sign_sender

ROOT = Path(__file__).resolve().parents[1]
Vector = tuple[str, str, str, str, int, str]


def readme_vectors() -> list[Vector]:
    """(secret, id, role, uai, expires, header) rows of the README's test-vector table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("| secret | id | role | uai | expires | `Deconnexion-Sender` |")
    rows = []
    for line in readme[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = re.findall(r"`([^`]*)`", line)
        if len(cells) != 6:
            raise ValueError(f"test vector row needs 6 `cells`: {line!r}")
        secret, sender_id, role, uai, expires, header = cells
        rows.append((secret, sender_id, role, uai, int(expires), header))
    return rows


VECTORS = readme_vectors()


def test_readme_publishes_vectors_with_non_ascii_and_empty_fields() -> None:
    assert len(VECTORS) >= 3
    assert any(not v[0].isascii() for v in VECTORS)  # a UTF-8 secret
    assert any(not v[1].isascii() for v in VECTORS)  # a percent-encoded id
    assert any(v[3] == "" for v in VECTORS)  # no UAI


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v[1])
def test_sign_sender_produces_the_published_header(vector: Vector) -> None:
    secret, sender_id, role, uai, expires, header = vector
    assert sign_sender(secret, sender_id, role, uai or None, expires) == header


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v[1])
def test_the_published_header_verifies_to_its_sender(vector: Vector) -> None:
    secret, sender_id, role, uai, expires, header = vector
    sender = SignedHeaderResolver(secret, clock=lambda: expires - 60).verify(header)
    assert (sender.authenticated, sender.id, sender.role.value) == (True, sender_id, role)
    assert (sender.establishment or "") == uai
    assert not SignedHeaderResolver(secret, clock=lambda: expires).verify(header).authenticated

"""A PHP ENT signs `Deconnexion-Sender` with `examples/php/sign_sender.php` (Debian's php-cli)
and the real gateway, served by uvicorn, trusts it: the README's test vectors come out of PHP
byte for byte, and a PHP-signed head of establishment sends an urgent message in a quiet window.

Skipped when php is not installed, except when the CI variable is set (`.ci/run` installs
php-cli): then a missing php is a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from test_gateway_e2e import QUIET, Clock, Served, Upstream

from deconnexion.store import open_store
from deconnexion.web.gateway import Gateway
from deconnexion.web.routes import RouteRules
from deconnexion.web.signing import SignedHeaderResolver

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "php" / "sign_sender.php"
SECRET = "php-e2e-secret-0123456789abcdef"


def php() -> str:
    for candidate in ("/usr/bin/php", shutil.which("php") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if os.environ.get("CI"):
        pytest.fail("php is not installed and CI is set (apt-get install php-cli)")
    pytest.skip("php is not installed (apt-get install php-cli)")


def php_sign(*args: str) -> str:
    done = subprocess.run(
        [php(), str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_php_reproduces_the_readme_test_vectors() -> None:
    from test_signing_vectors import readme_vectors

    vectors = readme_vectors()
    assert len(vectors) >= 3
    for secret, sender_id, role, uai, expires, expected in vectors:
        assert php_sign(secret, sender_id, role, uai, str(expires)) == expected


def test_gateway_accepts_a_php_signed_head_of_establishment(tmp_path: Path) -> None:
    up = Upstream()
    store = open_store(f"sqlite:///{tmp_path / 'held.db'}")
    chef = {"Deconnexion-Sender": php_sign(SECRET, "mme.durand", "chef_etablissement", "0750001A")}
    prof = {"Deconnexion-Sender": php_sign(SECRET, "m.martin", "teacher", "0750001A")}
    reason = quote("Collège fermé : neige")  # the header is percent-encoded UTF-8
    urgent = {"Deconnexion-Urgent": "true", "Deconnexion-Justification": reason}
    body = {"kind": "message", "audience": "parents", "text": "Collège fermé demain"}
    try:
        with Served(up.app) as up_served:
            gateway = Gateway(
                upstream=up_served.url,
                store=store,
                config=RouteRules.from_file(ROOT / "examples" / "routes.toml"),
                identity=SignedHeaderResolver(SECRET),  # real clock: PHP signs for now + 300 s
                clock=Clock(QUIET),  # Tuesday 22:00: a quiet window
                run_worker=False,
            )
            with Served(gateway) as gw, httpx.Client(base_url=gw.url, timeout=10) as client:
                passed = client.post("/api/notifications", json=body, headers={**chef, **urgent})
                assert passed.status_code == 201, passed.text
                held = client.post("/api/notifications", json=body, headers={**prof, **urgent})
                assert held.status_code == 202, held.text
                assert "urgent_refused" in [r["code"] for r in held.json()["reasons"]]
                listing = client.get("/_deconnexion/held", headers=chef)
                assert listing.status_code == 200, listing.text
                assert [i["actor"] for i in listing.json()["items"]] == ["m.martin"]
        assert [p["path"] for p in up.posts()] == ["/api/notifications"]
    finally:
        store.close()

"""Generated raw request lines against the real gateway (uvicorn, 127.0.0.1) at 22:00: never a
500, and the recording upstream never receives a request that a lenient router could take for
a gated one, nor anything aimed at another host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from _gateway_support import Recorder, Served, raw_http
from _request_lines import GATED_ROUTES, headers, lenient_gated, methods, targets
from hypothesis import HealthCheck, event, given, settings

from deconnexion.store import open_store
from deconnexion.web.gateway import Gateway
from deconnexion.web.routes import RouteRules
from deconnexion.web.signing import SignedHeaderResolver

pytestmark = pytest.mark.slow

QUIET = 1762290000.0  # Tuesday 2025-11-04 22:00 Europe/Paris
BODY = json.dumps({"audience": "parents", "text": "Sortie"}).encode()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Recorder]]:
    upstream = Recorder()
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('gw') / 'held.db'}")
    with Served(upstream) as up:
        app = Gateway(
            upstream=up.url,
            store=store,
            config=RouteRules.model_validate({"default_uai": "0750001A", "routes": GATED_ROUTES}),
            identity=SignedHeaderResolver("fuzz-secret-0123456789abcdef"),
            clock=lambda: QUIET,
            run_worker=False,
        )
        try:
            with Served(app, gateway=True) as gw:
                yield gw, upstream
        finally:
            store.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(method=methods, target=targets(), extra=headers)
def test_no_raw_request_line_reaches_the_upstream_as_a_gated_request(
    gateway: tuple[Served, Recorder], method: str, target: bytes, extra: dict[str, str]
) -> None:
    served, upstream = gateway
    before = len(upstream.seen())
    line = method.encode() + b" " + target + b" HTTP/1.1"
    answer = raw_http(served.port, line, {"Content-Type": "application/json", **extra}, BODY)
    event(f"status {answer.status}")
    assert answer.status != 500 and answer.status < 502, (line, answer)
    for got in upstream.seen()[before:]:
        received: Any = got.raw_path + (b"?" + got.query if got.query else b"")
        assert not lenient_gated(got.method, received, got.headers), (line, extra)

"""A dict payload is encoded by the prebuilt C encoder exactly as the public encoder would."""

from __future__ import annotations

from typing import Any

import pytest

from deconnexion.hold.request import _JSON, _json_dict


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"titre": "Contrôle de maths", "note": 14.5, "coef": 2, "ok": True, "rien": None},
        {"élèves": ["Zoé", "Noël"], "détail": {"a": [1, 2.0, -3], "b": 'é\u2019\n\t"\\'}},
        {"n": 10**30, "emoji": "🎓", "vide": [], "ctrl": "\x00\x1f"},
    ],
)
def test_the_prebuilt_encoder_writes_what_the_public_encoder_writes(payload: dict[str, Any]):
    assert _json_dict(payload) == _JSON.encode(payload).encode("utf-8")


@pytest.mark.parametrize("payload", [{"x": {1, 2}}, {"nan": float("nan")}, {(1, 2): "tuple key"}])
def test_a_payload_the_encoder_refuses_gets_none_for_the_public_encoder_to_explain(
    payload: dict[Any, Any],
):
    assert _json_dict(payload) is None

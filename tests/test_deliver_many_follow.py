"""The parents'-copy (test_follow.py) and quiet-window
(test_worker_quiet.py) worker tests, which run only one delivery per call, run again with
`Recorder` as a `BatchDeliverer` (`deliver_many`), as tests/test_worker.py does for its own.
All held; kept because no existing test runs these through `deliver_many`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _release_support import Recorder
from test_follow import *  # noqa: F403
from test_worker_quiet import *  # noqa: F403

from deconnexion.release.claimed_batch import ClaimedBatch

LAYERS: list[int] = []


@pytest.fixture(autouse=True)
def _deliver_many(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = ClaimedBatch.deliver_layers

    async def counted(self: ClaimedBatch, parts: Any, many: Any) -> Any:
        LAYERS.append(len(parts))
        return await real(self, parts, many)

    monkeypatch.setattr(ClaimedBatch, "deliver_layers", counted)
    Recorder.batch = True
    try:
        yield
    finally:
        Recorder.batch = False


def test_zz_the_batch_path_was_taken() -> None:
    assert len(LAYERS) > 20

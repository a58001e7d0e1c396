"""The cycle collector pause of big hold batches: paused once, restored as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from deconnexion.hold.collector import CollectorPause


@pytest.fixture
def collector_state() -> Iterator[None]:
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


@pytest.mark.usefixtures("collector_state")
def test_overlapping_pauses_enable_the_collector_again_only_when_the_last_ends():
    gc.enable()
    pause = CollectorPause()
    with pause.paused():
        assert not gc.isenabled()
        with pause.paused():  # another thread's batch
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_state")
def test_a_collector_disabled_by_the_application_stays_disabled():
    gc.disable()
    pause = CollectorPause()
    with pause.paused():
        pass
    assert not gc.isenabled()


@pytest.mark.usefixtures("collector_state")
def test_the_collector_comes_back_when_the_batch_fails():
    gc.enable()
    pause = CollectorPause()
    with pytest.raises(RuntimeError), pause.paused():
        raise RuntimeError("store refused")
    assert gc.isenabled()

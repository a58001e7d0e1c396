"""`next_open_many` on numpy arrays: the list path's answers and refusals; numpy stays optional."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from deconnexion import Audience, Establishment, OutOfRangeError, Policy, Scheduler

PARIS = ZoneInfo("Europe/Paris")


def zone_c() -> Scheduler:
    return Scheduler(Policy.national(), Establishment(zone="C"))


def test_an_array_gets_an_array_equal_to_the_list_answer() -> None:
    s = zone_c()
    rng = random.Random(7)
    lo = datetime(2024, 9, 1, tzinfo=PARIS).timestamp()
    hi = datetime(2027, 8, 31, tzinfo=PARIS).timestamp()
    instants = [rng.uniform(lo, hi) for _ in range(20_000)]
    for audience in Audience:
        as_list = s.next_open_many(instants, audience=audience)
        as_array = s.next_open_many(np.array(instants), audience=audience)
        assert isinstance(as_array, np.ndarray)
        assert as_array.dtype == np.float64
        assert as_array.tolist() == as_list


def test_an_open_instant_is_its_own_answer_and_a_quiet_one_moves_to_7h() -> None:
    s = zone_c()
    open_tuesday = datetime(2025, 11, 18, 10, tzinfo=PARIS).timestamp()
    tuesday_night = datetime(2025, 11, 18, 22, tzinfo=PARIS).timestamp()
    out = s.next_open_many(np.array([open_tuesday, tuesday_night]))
    assert out[0] == open_tuesday
    assert datetime.fromtimestamp(out[1], PARIS) == datetime(2025, 11, 19, 7, tzinfo=PARIS)


def test_integer_arrays_are_read_as_epoch_seconds() -> None:
    tuesday_night = int(datetime(2025, 11, 18, 22, tzinfo=PARIS).timestamp())
    out = zone_c().next_open_many(np.array([tuesday_night], dtype=np.int64))
    assert datetime.fromtimestamp(out[0], PARIS) == datetime(2025, 11, 19, 7, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (datetime(2031, 12, 31, 21, tzinfo=PARIS).timestamp(), "next open moment after"),
        (datetime(2017, 12, 31, 21, tzinfo=PARIS).timestamp(), "instant 2017-12-31T21:00:00"),
        (float("nan"), "instant nan (epoch seconds) is outside"),
        (float("inf"), "instant inf (epoch seconds) is outside"),
    ],
)
def test_an_array_with_one_bad_instant_is_refused_like_a_list(bad: float, says: str) -> None:
    good = datetime(2025, 11, 18, 12, tzinfo=PARIS).timestamp()
    with pytest.raises(OutOfRangeError, match=re.escape(says)):
        zone_c().next_open_many(np.array([good, bad, good]))


def test_an_empty_array_gives_an_empty_array() -> None:
    out = zone_c().next_open_many(np.array([], dtype=np.float64))
    assert isinstance(out, np.ndarray)
    assert out.size == 0


def test_the_list_path_never_imports_numpy() -> None:
    code = (
        "import sys\n"
        "from deconnexion import Establishment, Policy, Scheduler\n"
        "s = Scheduler(Policy.national(), Establishment(zone='C'))\n"
        "s.next_open_many([1763500000.0])\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"

"""The delaying relay's pure parts: when a chunk may go on, and what counts as a turn."""

from __future__ import annotations

import random

import pytest

from remediate.errors import LabError
from remediate.lab.host import Latency
from remediate.lab.relay import Delay, Turns


def test_each_direction_carries_half_the_round_trip():
    delay = Delay(40.0)
    assert delay.release(10.0, 0.0) == pytest.approx(10.020)


def test_jitter_stays_within_half_each_way_and_never_reorders():
    delay = Delay(40.0, 30.0, random.Random(7))
    previous, releases = 0.0, []
    for i in range(2000):
        now = i * 0.001  # a chunk every millisecond: jitter would reorder them without the floor
        previous = delay.release(now, previous)
        assert previous - now <= 0.035 + 1e-9
        releases.append(previous)
    assert releases == sorted(releases)
    spread = [r - i * 0.001 for i, r in enumerate(releases)]
    assert min(spread) >= 0.005 - 1e-9 and max(spread) > 0.030


def test_jitter_larger_than_the_delay_never_goes_back_in_time():
    delay = Delay(2.0, 50.0, random.Random(1))
    assert all(delay.release(5.0, 0.0) >= 5.0 for _ in range(200))


def test_a_turn_is_the_client_speaking_after_hearing_the_server():
    turns = Turns()
    turns.client_sent()  # SSH banners cross: the client's first bytes waited for nothing
    turns.server_delivered()
    turns.client_sent()  # KEXINIT after the server's banner: 1
    turns.client_sent()  # the same message in a second chunk: still 1
    turns.server_delivered()
    turns.server_delivered()
    turns.client_sent()  # 2
    assert turns.count == 2


def test_latency_refuses_negative_values():
    assert not Latency().active and Latency(0, 5).active and Latency(40).active
    with pytest.raises(LabError):
        Latency(-1)

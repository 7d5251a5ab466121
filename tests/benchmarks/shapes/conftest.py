"""Tiny shapes worlds shared by the tests (generators only: no run)."""

from __future__ import annotations

import pytest

from benchmarks.shapes.population import World
from benchmarks.shapes.worlds import Sizes, build_world

TINY = Sizes(base=400, university=80, families=5, vpn=40, carrier=30, kiosk=40, flash_fresh=30,
             flash_existing=10, farms=(30, 60), proxyfarms=(40,), onedevice=(50,),
             stuffing=(20, 30), stuffing_real=(120, 60), exit_subscribers=20,
             review_sellers=2)


@pytest.fixture(scope="session")
def mixed() -> World:
    """Every look-alike and every abuse shape, small."""
    return build_world("mixed", seed=3, sizes=TINY)


@pytest.fixture(scope="session")
def stuffing_real() -> World:
    """Realistic credential stuffing, through own IPs and through a VPN's exit, small."""
    return build_world("stuffing_real", seed=3, sizes=TINY)

"""benchmarks._common: the balanced orders suites time their setups in, and the collector kept between rounds."""

from __future__ import annotations

import gc
from collections import Counter

import pytest

from benchmarks._common import balanced_orders, collector_between_rounds, rounds


@pytest.mark.parametrize("k", range(1, 8))
def test_balanced_orders_give_every_item_every_place_and_every_predecessor_equally(k: int) -> None:
    orders = balanced_orders(k)
    assert len(orders) == (k if k % 2 == 0 else 2 * k)
    assert all(sorted(order) == list(range(k)) for order in orders)
    places = Counter((x, i) for order in orders for i, x in enumerate(order))
    assert len(places) == k * k and len(set(places.values())) == 1
    follows = Counter((order[i], order[i + 1]) for order in orders for i in range(k - 1))
    assert len(follows) == k * (k - 1) and len(set(follows.values())) <= 1


def test_rounds_cycle_through_the_orders_of_the_setups() -> None:
    order = rounds(("direct", "pac", "all"))
    seen = [tuple(order(i)) for i in range(12)]
    assert seen[:6] == seen[6:] and len(set(seen)) == 6  # all six orders of three, then again
    assert Counter(r[0] for r in seen[:6]) == {"direct": 2, "pac": 2, "all": 2}


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_collector_is_off_in_the_block_and_between_frees_young_cycles() -> None:
    import weakref

    assert gc.isenabled()
    with collector_between_rounds() as between:
        assert not gc.isenabled()
        cycle = _Cycle()
        ref = weakref.ref(cycle)
        del cycle
        assert ref() is not None  # nobody collects during a round
        between()
        assert ref() is None  # between rounds the young cycle is gone
    assert gc.isenabled()


def test_the_collector_stays_off_after_the_block_when_it_was_off_before() -> None:
    gc.disable()
    try:
        with collector_between_rounds():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

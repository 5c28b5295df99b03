"""settle_heap, in a process of its own (freezing the test run's heap would keep its garbage for good)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc, weakref
from aiplugs.util.heap import settle_heap

class Node:
    pass

kept = [Node() for _ in range(1000)]
garbage = Node()
garbage.self = garbage  # a reference cycle only the collector frees
gone = weakref.ref(garbage)
del garbage
assert gc.get_freeze_count() == 0
count = settle_heap()
print(count, gc.get_freeze_count(), gone() is None, gc.is_tracked(kept[0]), len(gc.get_objects()) < count)
"""


def test_settle_heap_collects_the_garbage_then_freezes_what_is_left() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    count, frozen, collected, tracked, fewer = out.stdout.split()
    assert int(count) == int(frozen) > 1000  # everything alive, the 1,000 kept nodes with it
    assert collected == "True"  # the cycle was freed before the freeze, not frozen with the rest
    assert tracked == "True" and fewer == "True"  # still tracked, but out of the generations a collection walks

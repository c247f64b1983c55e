"""The local stack's process tunes Python's garbage collector while a stack runs
(``engram_dev.stack.tune_garbage_collector``)."""

from __future__ import annotations

import gc

from engram_dev import stack


def test_a_running_stack_has_frozen_its_start_and_raised_the_thresholds(local_stack):
    # Given a running local stack
    # Then what it loaded is left out of collections, and young collections are rarer
    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold() == stack.GC_THRESHOLD


def test_tuning_returns_the_thresholds_it_replaced():
    # Given Python's default thresholds
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        # When the collector is tuned
        replaced = stack.tune_garbage_collector()
        # Then the defaults are returned (for stop to restore), and the stack's thresholds apply
        assert replaced == (700, 10, 10)
        assert gc.get_threshold() == stack.GC_THRESHOLD and gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)

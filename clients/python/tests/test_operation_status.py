"""``Operation`` as the client reads it: SUCCEEDED with ``index_pending`` is a success (stored, search
catching up), never a failure to retry."""

from __future__ import annotations

from engram_client import Operation

BASE = {"id": "op-1", "create_time": "2026-03-04T12:00:00Z", "update_time": "2026-03-04T12:01:00Z"}


def test_a_succeeded_operation_with_the_index_pending_is_done_and_not_a_failure() -> None:
    operation = Operation.model_validate({**BASE, "status": "SUCCEEDED", "index_pending": True, "result": {}})
    assert operation.done and operation.index_pending
    assert operation.raise_for_status() is operation


def test_an_older_server_without_the_field_reads_as_not_pending() -> None:
    assert Operation.model_validate({**BASE, "status": "SUCCEEDED"}).index_pending is False

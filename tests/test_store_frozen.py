"""A database that is frozen or stopped: every call ends within ``db-timeout``, naming it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from fleetstat.errors import StoreUnavailable
from fleetstat.store import Store
from tests.support import answers
from tests.support.private_postgres import PrivatePostgres

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.slow


def test_a_frozen_postgresql_ends_each_call_within_the_bound_and_names_it(
    private_postgres: PrivatePostgres,
) -> None:
    store = Store.open(private_postgres.url, timeout=2.0)
    try:
        run_id = store.start_run(T0)
        private_postgres.freeze()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            store.record(run_id, answers.ok_result(T0, answers.answer(T0)), T0)
        took = time.monotonic() - started
        private_postgres.thaw()

        assert took < 6.0
        assert f"127.0.0.1:{private_postgres.port}" in str(caught.value)
        assert "did not answer within 2 s" in str(caught.value)
        assert store.record(run_id, answers.ok_result(T0, answers.answer(T0)), T0).new
    finally:
        private_postgres.thaw()
        store.close()


def test_a_new_connection_to_a_frozen_postgresql_ends_within_the_bound(
    private_postgres: PrivatePostgres,
) -> None:
    store = Store.open(private_postgres.url, timeout=2.0)
    try:
        store.close()  # no pooled connection left: the next call connects anew
        private_postgres.freeze()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=str(private_postgres.port)):
            store.start_run(T0)
        assert time.monotonic() - started < 6.0
    finally:
        private_postgres.thaw()
        store.close()

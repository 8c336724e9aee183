"""Hosts that left the config: retired by the pass, forgotten on request.

A pass marks retired every host of the database that its config no longer lists
(``notify.retire_hosts``), and its alerts resolve quietly. ``forget`` deletes a
retired host's whole history, on request only: a live host cannot be forgotten.
"""

from __future__ import annotations

from fleetstat.errors import UsageError
from fleetstat.store import Store, queries, retired
from fleetstat.store.models import Host


def forget(store: Store, host: str) -> int:
    """Delete every row of the retired host ``host`` (name, IP or ip:port); how many rows.

    UsageError when no such host is known, or when it is still in the config (not retired).
    """
    with store.session() as session:
        ids = queries.host_ids(session, host)
        if not ids:
            raise UsageError(f"no host {host!r} in the database: `fleetstat hosts` lists them")
        hosts = [session.get(Host, host_id) for host_id in ids]
        if any(row is not None and row.retired_at is None for row in hosts):
            raise UsageError(
                f"{host!r} is still in the config (not retired): remove its <client> and run "
                "a pass first, so that fleetstat retires it"
            )
        return sum(retired.forget(session, host_id) for host_id in ids)

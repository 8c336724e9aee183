"""The declarations: every attribute, element and ``FLEETSTAT_*`` variable, once, as data.

Parsing, the environment overrides and the documentation test all read these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from fleetstat.config.values import (
    _choice,
    _db_url,
    _duration,
    _env_name,
    _env_prefix,
    _host,
    _interpreter,
    _jump,
    _mail_address,
    _mail_list,
    _mount,
    _on_off,
    _path,
    _path_list,
    _port,
    _positive_duration,
    _secret,
    _size,
    _ssh_config,
    _text,
    _whole,
)
from fleetstat.core.metrics import ALERT_TYPES
from fleetstat.core.model import (
    ENGINES,
    HOST_KEY_POLICIES,
    SMTP_TLS_MODES,
    Settings,
    SmtpSettings,
)

#: The variables of fleetstat's own secrets, read beside the config's.
WEB_PASSWORD_ENV = "FLEETSTAT_WEB_PASSWORD"
WEB_PASSWORD_FILE_ENV = "FLEETSTAT_WEB_PASSWORD_FILE"
CONFIG_ENV = "FLEETSTAT_CONFIG"
SMTP_PASSWORD_ENV = "FLEETSTAT_SMTP_PASSWORD"
SMTP_PASSWORD_FILE_ENV = "FLEETSTAT_SMTP_PASSWORD_FILE"
SMTP_DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}


@dataclass(frozen=True)
class Attr:
    """One XML attribute: the model field it fills, its parser, and its documentation.

    ``env`` is the variable that wins over it (settings only); ``default`` is what
    the documentation shows when the attribute is absent ("required" when it must be given).
    """

    name: str
    field: str
    parse: Callable[[str], Any]
    kind: str
    default: str
    help: str
    env: str | None = None
    secret: bool = False


def _default(cls: type, name: str, unit: str = "") -> str:
    value = next(f.default for f in fields(cls) if f.name == name)
    return f"{value:g}{unit}" if isinstance(value, float) else str(value)


CLIENT_ATTRS = (
    Attr("ip", "ip", _host, "IPv4/IPv6 address or host name", "required",
         "the machine to reach over SSH"),
    Attr("port", "port", _port, "port 1-65535", "22", "the SSH port"),
    Attr("username", "username", _text, "text", "required", "the SSH user"),
    Attr("password", "password", _secret, "text", "none",
         "the SSH password (prefer password-env or keyfile)", secret=True),
    Attr("password-env", "password_env", _env_name, "variable name", "none",
         "environment variable holding the SSH password, under client-env-prefix; unset: the "
         "client alone fails (config_error)"),
    Attr("keyfile", "keyfile", _path, "path", "none",
         "private key file; ~ expanded, relative to the config's folder, must exist"),
    Attr("certificate", "certificate", _path, "path", "KEY-cert.pub beside the keyfile",
         "an OpenSSH user certificate (ssh-keygen -s) offered with the keyfile; must exist"),
    Attr("become", "become", _choice(("sudo", "doas"), "become tool"), "sudo, doas", "none",
         "read the journal through sudo -n (or doas -n) when the account may not: one fixed "
         "journalctl command, never the agent"),
    Attr("jump", "jump", _jump, "[user@]host[:port], comma-separated for a chain",
         "ProxyJump of ssh-config, else none",
         "the bastion the client is reached through; clients behind one share one "
         "connection to it a pass"),
    Attr("mail", "mail", _mail_list, "addresses, comma-separated", "none",
         "who is mailed when this client's alerts fire or resolve"),
    Attr("name", "name", _text, "text", "the ip", "what reports and mails call the client"),
    Attr("python", "python", _interpreter, "path on the client", "python3, then python",
         "the interpreter that runs the agent, like /usr/bin/python3"),
    Attr("timeout", "timeout", _positive_duration, "duration", "settings timeout",
         "bound on this client's whole run: 90, 90s, 2m"),
)  # fmt: skip

#: What a ``<group>`` may set for its clients (each client may set it again).
INHERITED = (
    "username", "port", "keyfile", "certificate", "jump", "become", "password-env", "mail",
    "python", "timeout",
)  # fmt: skip

GROUP_ATTRS = (
    Attr("name", "name", _text, "text", "required",
         "the group's name, carried into reports, mails and the database"),
    *(replace(attr, default="none", help=f"{attr.help}; for every client of the group")
      for attr in CLIENT_ATTRS if attr.name in INHERITED),
)  # fmt: skip

ALERT_ATTRS = (
    Attr("type", "type", _choice(ALERT_TYPES, "alert type"), ", ".join(ALERT_TYPES), "required",
         "what is watched"),
    Attr("limit", "limit", _text, "percent, or number for load", "required",
         "fires when the value is greater: 50% (or 50) for memory, cpu, swap, disk; "
         "for load the 1-minute load average PER CORE, like 1.5"),
    Attr("mount", "mount", _mount, "mount point", "the fullest real filesystem",
         "disk only: the filesystem to watch, like /var"),
    Attr("repeat", "repeat", _duration, "duration", "1h",
         "reminder interval while firing; 0 = every run"),
    Attr("for", "for_runs", _whole(1), "whole number >= 1", "1",
         "consecutive runs over the limit before it fires"),
    Attr("clear", "clear", _text, "like limit", "the limit",
         "once firing, resolves only below this value: clear=\"80%\" with limit=\"90%\""),
    Attr("clear-for", "clear_for", _whole(1), "whole number >= 1", "1",
         "once firing, resolves only after this many runs in a row below clear"),
)  # fmt: skip

SETTINGS_ATTRS = (
    Attr("db", "db", _db_url, "SQLAlchemy URL", _default(Settings, "db"),
         "the database; a relative SQLite path is relative to the config's folder",
         env="FLEETSTAT_DB"),
    Attr("concurrency", "concurrency", _whole(1), "whole number >= 1",
         _default(Settings, "concurrency"), "clients collected at the same time",
         env="FLEETSTAT_CONCURRENCY"),
    Attr("connect-timeout", "connect_timeout", _positive_duration, "duration",
         _default(Settings, "connect_timeout", "s"), "bound on the SSH connect and login",
         env="FLEETSTAT_CONNECT_TIMEOUT"),
    Attr("timeout", "timeout", _positive_duration, "duration",
         _default(Settings, "timeout", "s"), "bound on one client's whole run",
         env="FLEETSTAT_TIMEOUT"),
    Attr("host-keys", "host_keys", _choice(HOST_KEY_POLICIES, "host-keys policy"),
         ", ".join(HOST_KEY_POLICIES), _default(Settings, "host_keys"),
         "accept-new: learn unknown keys, refuse changed ones; strict: known keys only; "
         "off: no check", env="FLEETSTAT_HOST_KEYS"),
    Attr("known-hosts", "known_hosts", _path_list, "paths, comma-separated",
         _default(Settings, "known_hosts"),
         "known_hosts files: fleetstat's own first (learned keys are appended), then "
         "read-only ones like ~/.ssh/known_hosts; ~ expanded, relative to the config's folder",
         env="FLEETSTAT_KNOWN_HOSTS"),
    Attr("ssh-config", "ssh_config", _ssh_config, "no, yes or a path", "no",
         "an OpenSSH client config whose User, Port, IdentityFile and ProxyJump apply; "
         "yes = ~/.ssh/config", env="FLEETSTAT_SSH_CONFIG"),
    Attr("cpu-interval", "cpu_interval", _duration, "duration",
         _default(Settings, "cpu_interval", "s"),
         "how long the agent measures CPU use when it must (first pass, after a gap or a "
         "reboot); 0: never, and such a pass has no CPU figure"),
    Attr("cpu-max-gap", "cpu_max_gap", _positive_duration, "duration",
         _default(Settings, "cpu_max_gap", "s"),
         "CPU use is taken from the last sample's counters when it is at most this old"),
    Attr("max-events", "max_events", _whole(0), "whole number >= 0",
         _default(Settings, "max_events"), "security events read per client per run"),
    Attr("events-first-window", "events_window", _duration, "duration",
         _default(Settings, "events_window", "s"),
         "a client's first run reads the security events of this last stretch of time "
         "only (and at most max-events); 0: no time bound"),
    Attr("mail-max-events", "mail_max_events", _whole(0), "whole number >= 0",
         _default(Settings, "mail_max_events"),
         "security events listed per client in one digest"),
    Attr("mail-templates", "mail_templates", _path, "folder", "the built-in texts",
         "a folder whose alert.txt, alert-subject.txt, digest.txt, digest-subject.txt "
         "replace the built-in mail templates; relative to the config's folder",
         env="FLEETSTAT_MAIL_TEMPLATES"),
    Attr("mail-expire", "mail_expire", _positive_duration, "duration", "1d",
         "queued mail older than this is marked expired, never sent",
         env="FLEETSTAT_MAIL_EXPIRE"),
    Attr("engine", "engine", _choice(ENGINES, "engine"), ", ".join(ENGINES),
         _default(Settings, "engine"), "where a pass runs: local (this process) or celery "
         "(shards on fleetstat workers)", env="FLEETSTAT_ENGINE"),
    Attr("broker", "broker", _text, "Celery broker URL", _default(Settings, "broker"),
         "the RabbitMQ (amqp://) or Redis (redis://) broker of --engine celery",
         env="FLEETSTAT_BROKER"),
    Attr("queue", "queue", _text, "queue name", _default(Settings, "queue"),
         "the broker queue the shards of this config go through", env="FLEETSTAT_QUEUE"),
    Attr("shard-size", "shard_size", _whole(1), "whole number >= 1",
         _default(Settings, "shard_size"), "clients in one Celery task"),
    Attr("retain-samples", "retain_samples", _duration, "duration, 0 = for ever", "30d",
         "how long raw samples (and their disks) are kept; older hours live on as rollups"),
    Attr("retain-rollups", "retain_rollups", _duration, "duration, 0 = for ever", "365d",
         "how long the hourly rollups (count, min, avg, max per figure) are kept"),
    Attr("retain-attempts", "retain_attempts", _duration, "duration, 0 = for ever", "90d",
         "how long each host's collection attempts (outcome, error, duration) are kept"),
    Attr("retain-events", "retain_events", _duration, "duration, 0 = for ever", "365d",
         "how long security events are kept"),
    Attr("retain-mail", "retain_mail", _duration, "duration, 0 = for ever", "30d",
         "how long sent, failed or expired mails stay in the outbox (pending ones always stay)"),
    Attr("max-answer", "max_answer", _size, "size", "16MiB",
         "most an agent may print; a longer answer is bad_payload"),
    Attr("answers-in-flight", "answers_in_flight", _size, "size", "16MiB",
         "what all answers being read at once may hold together beyond 128 KiB each; an "
         "answer that finds it spent is cut (bad_payload), so many hostile clients at once "
         "cannot grow the collector's memory past it"),
    Attr("keep-connections", "keep_connections", _on_off, "on, off", "on",
         "watch keeps each client's SSH connection open between passes"),
    Attr("max-kept-connections", "max_kept_connections", _whole(0), "whole number >= 0",
         _default(Settings, "max_kept_connections"), "most SSH connections watch keeps open"),
    Attr("db-timeout", "db_timeout", _positive_duration, "duration",
         _default(Settings, "db_timeout", "s"),
         "bound on one database call (statement, lock wait, SQLite busy wait, connect)",
         env="FLEETSTAT_DB_TIMEOUT"),
    Attr("client-env-prefix", "client_env_prefix", _env_prefix, "variable name prefix",
         _default(Settings, "client_env_prefix"),
         "a client's password-env must name a variable that starts with this; fleetstat's "
         "own variables are refused whatever the prefix"),
    Attr("keys-dir", "keys_dir", _path, "folder", "keys",
         "the only folder a key file added on the web page may come from (symlinks and .. "
         "resolved); relative to the config's folder. A hand-written keyfile may be anywhere"),
    Attr("jump-concurrency", "jump_concurrency", _whole(1), "whole number >= 1", "10",
         "most logins at once through one bastion, under its sshd's MaxStartups"),
    Attr("web-session-idle", "web_session_idle", _positive_duration, "duration", "8h",
         "a web page session without a request for this long is ended (log in again)",
         env="FLEETSTAT_WEB_SESSION_IDLE"),
)  # fmt: skip

SMTP_ATTRS = (
    Attr("host", "host", _host, "host name or address", _default(SmtpSettings, "host"),
         "the SMTP server", env="FLEETSTAT_SMTP_HOST"),
    Attr("port", "port", _port, "port 1-65535", "25; 587 with starttls; 465 with ssl",
         "the SMTP port", env="FLEETSTAT_SMTP_PORT"),
    Attr("tls", "tls", _choice(SMTP_TLS_MODES, "tls mode"), ", ".join(SMTP_TLS_MODES),
         _default(SmtpSettings, "tls"), "none, STARTTLS after connecting, or TLS from the start",
         env="FLEETSTAT_SMTP_TLS"),
    Attr("user", "user", _text, "text", "none", "SMTP login; the password comes from "
         f"{SMTP_PASSWORD_ENV} or {SMTP_PASSWORD_FILE_ENV}", env="FLEETSTAT_SMTP_USER"),
    Attr("sender", "sender", _mail_address, "mail address", _default(SmtpSettings, "sender"),
         "the From: of every mail", env="FLEETSTAT_SMTP_FROM"),
    Attr("timeout", "timeout", _positive_duration, "duration",
         _default(SmtpSettings, "timeout", "s"), "bound on one SMTP conversation"),
)  # fmt: skip

ELEMENTS = {
    "client": CLIENT_ATTRS,
    "group": GROUP_ATTRS,
    "alert": ALERT_ATTRS,
    "settings": SETTINGS_ATTRS,
    "smtp": SMTP_ATTRS,
    "clients": (),
}
CHILDREN = {
    "clients": ("client", "group", "settings"),
    "group": ("client", "alert"),
    "client": ("alert",),
    "settings": ("smtp",),
    "alert": (),
    "smtp": (),
}
#: Attributes whose values never appear in an error.
SECRET_ATTRS = frozenset(attr.name for table in ELEMENTS.values() for attr in table if attr.secret)
ENV_ONLY = {
    SMTP_PASSWORD_ENV: "the SMTP password",
    SMTP_PASSWORD_FILE_ENV: "a file whose content (trailing newline dropped) is the SMTP password",
}


def env_names() -> tuple[str, ...]:
    """Every ``FLEETSTAT_*`` variable the config reads."""
    declared = [a.env for a in SETTINGS_ATTRS + SMTP_ATTRS if a.env]
    return (*declared, *ENV_ONLY)


def own_env_names() -> frozenset[str]:
    """Every variable fleetstat reads itself: the config's, the web page's password and the
    config's path. No client may name one as its ``password-env``."""
    return frozenset((*env_names(), WEB_PASSWORD_ENV, WEB_PASSWORD_FILE_ENV, CONFIG_ENV))

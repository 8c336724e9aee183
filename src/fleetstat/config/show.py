"""``check-config --show CLIENT``: what one client ends up with, and where each value came from."""

from __future__ import annotations

from pathlib import Path

from fleetstat.config.build import Built, Sources
from fleetstat.config.values import _did_you_mean
from fleetstat.core.errors import ConfigError
from fleetstat.core.metrics import METRICS
from fleetstat.core.model import AlertRule, Client


def find(built: Built, which: str) -> Client:
    """The client named ``which`` (its name, ip or ip:port); ConfigError when none or several."""
    clients = built.config.clients
    for key in ("address", "name", "ip"):
        hits = [client for client in clients if getattr(client, key) == which]
        if len(hits) == 1:
            return hits[0]
        if hits:
            listed = ", ".join(client.address for client in hits)
            raise ConfigError(
                str(built.config.path),
                None,
                f"{which!r} names {len(hits)} clients: {listed}",
                "give one of them as ip:port",
            )
    known = [client.label for client in clients]
    raise ConfigError(
        str(built.config.path),
        None,
        f"no client {which!r} in the config",
        _did_you_mean(which, known).replace("known:", "clients:"),
    )


def show(built: Built, which: str) -> str:
    """The lines that ``check-config --show`` prints for the client ``which``."""
    client = find(built, which)
    sources = built.sources[client.address]
    settings = built.config.settings
    group = f" in group {client.group}" if client.group else " (no group)"
    rows = [
        ("ip", client.ip, sources.get("ip", "")),
        ("port", str(client.port), sources.get("port", "default")),
        ("username", client.username, sources.get("username", "")),
        ("name", client.name, sources.get("name", "")),
        ("password", *_password(sources)),
        ("keyfile", str(client.keyfile or "none"), sources.get("keyfile", "")),
        *_certificate_row(client, sources),
        ("jump", client.jump or "none (direct)", sources.get("jump", "")),
        ("mail", ", ".join(client.mail) or "nobody", sources.get("mail", "")),
        ("python", client.python or "python3, then python", sources.get("python", "default")),
        (
            "timeout",
            _seconds(client.timeout or settings.timeout),
            sources.get("timeout", "settings timeout"),
        ),
    ]
    rows += _ssh_rows(sources)
    width = max(len(value) for _, value, _ in rows)
    lines = [f"{client.label} ({client.address}){group}, {built.config.path}:{client.line}"]
    lines += [f"  {name:<14}{value:<{width}}  {where}".rstrip() for name, value, where in rows]
    lines.append("  alerts" if client.alerts else "  alerts        none")
    rules = [_rule(rule) for rule in client.alerts]
    pad = max([width + 12, *(len(rule) for rule in rules)])
    for rule, text in zip(client.alerts, rules, strict=True):
        lines.append(f"    {text:<{pad}}  {sources[f'alert {rule.key}']}")
    return "\n".join(lines)


def _certificate_row(client: Client, sources: Sources) -> list[tuple[str, str, str]]:
    """The certificate row: the one named, or the one found beside the key file."""
    if client.certificate is not None:
        return [("certificate", str(client.certificate), sources.get("certificate", ""))]
    if client.keyfile is not None:
        beside = Path(f"{client.keyfile}-cert.pub")
        if beside.is_file():
            return [("certificate", str(beside), "found beside the keyfile")]
    return []


def _password(sources: Sources) -> tuple[str, str]:
    """What the password row says (never the password) and where it came from."""
    if "password_env" in sources:
        return "from the environment", sources["password_env"]
    if "password" in sources:
        return "written in the file", sources["password"]
    return "none", ""


def _ssh_rows(sources: Sources) -> list[tuple[str, str, str]]:
    rows = []
    for field, label in (("proxy_jump", "proxy jump"), ("identity_files", "identity file")):
        if field in sources:
            value, _, where = sources[field].partition(" (")
            rows.append((label, value, where.rstrip(")")))
    return rows


def _rule(rule: AlertRule) -> str:
    unit = METRICS[rule.type].unit
    limit = unit.format_limit(rule.limit) + unit.after
    mount = f" {rule.mount}" if rule.mount else ""
    runs = "" if rule.for_runs == 1 else f", after {rule.for_runs} runs"
    return f"{rule.type}{mount} > {limit} (repeat {_seconds(rule.repeat)}{runs})"


def _seconds(value: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"

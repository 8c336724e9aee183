"""``fleetstat serve`` over TLS, behind a trusted proxy, and its warning when it listens in
clear beyond loopback: real processes, real sockets."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.smtp import Cert
from tests.support.sshd import free_port
from tests.support.web import PASSWORD

FLEETSTAT = str(Path(sys.executable).with_name("fleetstat"))


@contextmanager
def serving(folder: Path, *args: str, host: str = "127.0.0.1") -> Iterator[tuple[str, Path]]:
    """``fleetstat serve`` with ``args``; (its base URL on 127.0.0.1, its stderr file)."""
    port = free_port(["127.0.0.1"])
    db = f"sqlite:///{folder / 'fleet.db'}"
    subprocess.run([FLEETSTAT, "db", "upgrade", "--db", db], check=True, capture_output=True)
    err = folder / f"serve-{port}.err"
    env = {**os.environ, "FLEETSTAT_WEB_PASSWORD": PASSWORD}
    argv = [FLEETSTAT, "serve", "--db", db, "--listen", f"{host}:{port}", *args]
    with err.open("w") as stderr:
        process = subprocess.Popen(argv, env=env, stderr=stderr)
    try:
        deadline = time.monotonic() + 20
        while "Uvicorn running" not in err.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, err.read_text()
            time.sleep(0.05)
        scheme = "https" if "--tls-cert" in args else "http"
        yield f"{scheme}://127.0.0.1:{port}", err
    finally:
        process.terminate()
        process.wait(timeout=10)


def login_cookie(client: httpx.Client, **headers: str) -> str:
    """The Set-Cookie of a right login. Cookies are carried by hand: behind a TLS proxy
    the browser speaks HTTPS and sends back a ``Secure`` cookie, which this client, on
    plain HTTP to the proxy's side, would not."""
    page = client.get("/login", headers=headers)
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    cookie = page.headers["set-cookie"].split(";", 1)[0]
    client.cookies.clear()
    answer = client.post(
        "/login",
        data={"password": PASSWORD, "csrf": csrf, "next": "/"},
        headers={**headers, "Cookie": cookie},
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["set-cookie"]


def test_serve_over_tls_sets_a_secure_cookie_and_says_https(
    tmp_path: Path, smtp_cert: Cert
) -> None:
    cert, key = smtp_cert.cert_path, smtp_cert.key_path  # for 127.0.0.1, self-signed
    with serving(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key)) as (url, err):
        with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=cert)) as client:
            assert "Secure" in login_cookie(client)
        assert f"serving {url}/" in err.read_text()
        assert "warning" not in err.read_text()


def test_forwarded_headers_count_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    proxied = {"X-Forwarded-Proto": "https"}
    trusted = serving(tmp_path, "--trusted-proxy", "127.0.0.1")
    with trusted as (url, _), httpx.Client(base_url=url) as client:
        assert "Secure" in login_cookie(client, **proxied)
    other = serving(tmp_path, "--trusted-proxy", "127.0.0.9")
    with other as (url, _), httpx.Client(base_url=url) as client:
        assert "Secure" not in login_cookie(client, **proxied)  # a forged header
    with serving(tmp_path) as (url, _), httpx.Client(base_url=url) as client:
        assert "Secure" not in login_cookie(client, **proxied)


def test_listening_in_clear_beyond_loopback_is_warned_of(tmp_path: Path) -> None:
    with serving(tmp_path, host="0.0.0.0") as (_, err):
        assert "warning: listening on 0.0.0.0 without TLS" in err.read_text()
    with serving(tmp_path) as (_, err):
        assert "warning" not in err.read_text()


def test_a_certificate_without_its_key_is_a_usage_error(smtp_cert: Cert) -> None:
    done = subprocess.run(
        [FLEETSTAT, "serve", "--db", "sqlite:///x.db", "--tls-cert", str(smtp_cert.cert_path)],
        env={**os.environ, "FLEETSTAT_WEB_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "give both --tls-cert and --tls-key" in done.stderr

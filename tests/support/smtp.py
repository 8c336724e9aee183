"""Real SMTP servers for the tests: aiosmtpd in-process on 127.0.0.1.

Fixtures (each yields a started ``SmtpServer``, stopped at the end of the test):

- ``smtp_server``: plain SMTP, no TLS, no login.
- ``smtp_starttls``: offers STARTTLS with a certificate made for the test.
- ``smtp_ssl``: implicit TLS (``tls="ssl"``) with that certificate.
- ``smtp_auth``: STARTTLS and AUTH PLAIN/LOGIN; only ``SMTP_USER``/``SMTP_PASSWORD``
  may log in, and a mail is accepted only after login.
- ``smtp_cert``: the certificate (PEM file path); the TLS fixtures make the client side
  trust it through ``SSL_CERT_FILE``, so fleetstat's default TLS verification is real.

An ``SmtpServer`` records every message it accepts (``messages``: envelope sender and
recipients, the parsed message) and answers chosen recipients with a chosen reply
(``refuse("x@example.org", "550 5.1.1 no such user")``, or 451 for a temporary
failure), and can hang up in the middle of a batch (``hang_up_after(n)``). ``stop()``
takes it down (connections are then refused) and ``start()`` brings it back on the same
port. ``settings()`` gives the ``SmtpSettings`` to reach it.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetstat.core.model import SmtpSettings

HOST = "127.0.0.1"
SMTP_USER = "fleetstat-mailer"
SMTP_PASSWORD = "s3cret-for-tests"
SENDER = "fleetstat@monitor.test"


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope, the parsed message, the client's (ip, port)."""

    mail_from: str
    recipients: tuple[str, ...]
    message: EmailMessage
    peer: tuple[str, int]

    @property
    def subject(self) -> str:
        """The subject, unfolded (Python's parser keeps the space of a fold after the colon)."""
        return str(self.message["Subject"]).strip()

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")


class Recorder:
    """The aiosmtpd handler: refuses chosen recipients, records every accepted message."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.replies: dict[str, str] = {}
        self.hang_up_after: int | None = None
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.hang_up_after is not None and len(self.messages) >= self.hang_up_after:
            server.transport.close()
            return "421 4.3.2 closing the connection"
        reply = self.replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        received = Received(
            envelope.mail_from, tuple(envelope.rcpt_tos), message, tuple(session.peer)
        )
        with self._lock:
            self.messages.append(received)
        return "250 Message accepted"


class SmtpServer:
    """One aiosmtpd server on a fixed free port of 127.0.0.1 that can be stopped and restarted."""

    def __init__(self, tls: str = "none", cert: Cert | None = None, auth: bool = False) -> None:
        self.tls = tls
        self.cert = cert
        self.auth = auth
        self.port = _free_port()
        self.recorder = Recorder()
        self._controller: Controller | None = None

    # ------------------------------------------------------------ running

    def start(self) -> None:
        """Listen (again) on ``self.port``."""
        assert self._controller is None, "already running"
        self._controller = Controller(
            self.recorder, hostname=HOST, port=self.port, **self._options()
        )
        self._controller.start()

    def stop(self) -> None:
        """Stop listening: connections to ``self.port`` are refused until ``start()``."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"server_hostname": "smtp.test"}
        context = self.cert.server_context() if self.cert else None
        if self.tls == "ssl":
            options["ssl_context"] = context
        elif self.tls == "starttls":
            options["tls_context"] = context
            options["require_starttls"] = True
        if self.auth:
            options["authenticator"] = _check_login
            options["auth_required"] = True
            options["auth_require_tls"] = self.tls == "starttls"
        return options

    # ------------------------------------------------------------ what the tests read and set

    def settings(self, **changes: Any) -> SmtpSettings:
        """The ``SmtpSettings`` that reach this server (with its login for AUTH servers)."""
        values: dict[str, Any] = {
            "host": HOST,
            "port": self.port,
            "tls": self.tls,
            "sender": SENDER,
            "timeout": 5.0,
        }
        if self.auth:
            values.update(user=SMTP_USER, password=SMTP_PASSWORD)
        values.update(changes)
        return SmtpSettings(**values)

    @property
    def messages(self) -> list[Received]:
        """Every message accepted so far, in order."""
        return list(self.recorder.messages)

    def to(self, address: str) -> list[Received]:
        """The accepted messages addressed to ``address``."""
        return [m for m in self.recorder.messages if address in m.recipients]

    def refuse(self, address: str, reply: str) -> None:
        """Answer RCPT TO ``address`` with ``reply`` (``"451 4.3.0 try later"``, ``"550 ..."``)."""
        self.recorder.replies[address.lower()] = reply

    def hang_up_after(self, count: int | None) -> None:
        """Drop the connection at the next RCPT once ``count`` messages were accepted."""
        self.recorder.hang_up_after = count

    def accept(self, address: str) -> None:
        """Accept ``address`` again."""
        self.recorder.replies.pop(address.lower(), None)

    def clear(self) -> None:
        """Forget the messages recorded so far."""
        self.recorder.messages.clear()


def _check_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- a certificate


@dataclass(frozen=True)
class Cert:
    """A self-signed certificate for ``localhost`` and 127.0.0.1, and its key (PEM files)."""

    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def make_cert(folder: Path) -> Cert:
    """Write a fresh self-signed certificate and key into ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = folder / "smtp-cert.pem"
    key_path = folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Cert(cert_path, key_path)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def smtp_cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    """A certificate for 127.0.0.1/localhost, made once per test session."""
    return make_cert(tmp_path_factory.mktemp("smtp-cert"))


def _serve(server: SmtpServer) -> Iterator[SmtpServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no TLS, no login) on a free port of 127.0.0.1."""
    yield from _serve(SmtpServer())


@pytest.fixture
def smtp_starttls(smtp_cert: Cert, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """An SMTP server that requires STARTTLS; the client trusts its certificate."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_cert.cert_path))
    yield from _serve(SmtpServer("starttls", smtp_cert))


@pytest.fixture
def smtp_ssl(smtp_cert: Cert, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """An SMTP server speaking TLS from the first byte; the client trusts its certificate."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_cert.cert_path))
    yield from _serve(SmtpServer("ssl", smtp_cert))


@pytest.fixture
def smtp_auth(smtp_cert: Cert, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """STARTTLS plus AUTH: only SMTP_USER with SMTP_PASSWORD may send."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_cert.cert_path))
    yield from _serve(SmtpServer("starttls", smtp_cert, auth=True))

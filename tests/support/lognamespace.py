"""A host's logging, real and private: journald and rsyslog in a mount namespace of their own.

``LogHost.start(workdir)`` makes a mount namespace (``unshare -m``) with its own
``/var/log``, ``/run/systemd``, ``/run/log`` and ``/dev`` (the device nodes a
program needs, and ``/dev/log`` pointing at journald), runs the Debian ``systemd-
journald`` and ``rsyslogd`` there as a host has them (journald forwards to rsyslog,
which writes ``/var/log/auth.log``), and runs commands inside with ``nsenter``. Real
programs (``sshd``, ``sudo``, ``su``, ``useradd``, ``logger``, ``logrotate``) log to
them exactly as on a host; nothing reaches the machine's own logs, and ``stop()``
ends every process it started. The journal and the auth file are read from outside
through ``/proc/PID/root``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

JOURNALD = "/lib/systemd/systemd-journald"
RSYSLOGD = "/usr/sbin/rsyslogd"
WAIT = 10.0  # seconds to wait for a daemon or a log line

SETUP = r"""
set -e
D="$1"
mount -t tmpfs -o mode=755 tmpfs /var/log
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
mkdir -p "$D/dev"
mount --rbind /dev "$D/dev"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero random urandom tty full; do touch /dev/$n; mount --bind "$D/dev/$n" /dev/$n; done
mkdir /dev/pts /dev/shm
mount --rbind "$D/dev/pts" /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs tmpfs /dev/shm
ln -s /run/systemd/journal/dev-log /dev/log
mount --bind "$D/journald.conf" /etc/systemd/journald.conf
echo ready
exec sleep 100000
"""

RSYSLOG_CONF = """\
module(load="imuxsock" SysSock.Name="/run/systemd/journal/syslog")
$WorkDirectory {workdir}
$FileCreateMode 0640
auth,authpriv.*  /var/log/auth.log
"""


class LogHost:
    """The namespace's holder process, its daemons, and how to run programs inside."""

    def __init__(self, workdir: Path, holder: subprocess.Popen[bytes]) -> None:
        self.workdir = workdir
        self.holder = holder
        self.daemons: list[subprocess.Popen[bytes]] = []

    @classmethod
    def start(cls, workdir: Path) -> LogHost:
        """Make the namespace and start journald and rsyslogd in it."""
        (workdir / "journald.conf").write_text(
            "[Journal]\nStorage=volatile\nForwardToSyslog=yes\nRateLimitBurst=0\n"
        )
        (workdir / "rsyslog.conf").write_text(RSYSLOG_CONF.format(workdir=workdir))
        holder = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", SETUP, "setup", workdir],
            stdout=subprocess.PIPE,
        )
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != b"ready":
            holder.kill()
            raise RuntimeError("the mount namespace could not be set up")
        host = cls(workdir, holder)
        try:
            host.daemons.append(host.spawn([JOURNALD]))
            host.wait_for(lambda: host.path("/run/systemd/journal/dev-log").exists())
            pidfile = workdir / "rsyslogd.pid"
            command = [RSYSLOGD, "-n", "-f", str(workdir / "rsyslog.conf"), "-i", str(pidfile)]
            host.daemons.append(host.spawn(command))
            host.wait_for(lambda: host.path("/run/systemd/journal/syslog").exists())
        except BaseException:
            host.stop()
            raise
        return host

    def inside(self, command: list[str], user: str | None = None) -> list[str]:
        """``command`` run in the namespace (as ``user`` when given, with no groups)."""
        prefix = ["nsenter", "-t", str(self.holder.pid), "-m", "--"]
        if user is not None:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        return prefix + command

    def run(self, command: list[str], user: str | None = None, check: bool = True) -> str:
        """Run ``command`` inside and wait; its standard output."""
        done = subprocess.run(
            self.inside(command, user),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{command} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        """Start ``command`` inside, in the background."""
        return subprocess.Popen(
            self.inside(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def path(self, inside: str) -> Path:
        """The outside path of a file inside the namespace."""
        return Path(f"/proc/{self.holder.pid}/root{inside}")

    def journal_args(self) -> list[str]:
        """``journalctl`` arguments that read this namespace's journal from outside."""
        return [f"--directory={self.path('/run/log/journal')}"]

    def wait_for(self, condition: object, timeout: float = WAIT) -> None:
        """Wait until ``condition()`` is true; raise after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise RuntimeError("timed out waiting inside the log namespace")
            time.sleep(0.05)

    def stop(self) -> None:
        """End the daemons and the namespace (its mounts go with its last process)."""
        for proc in [*self.daemons, self.holder]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.daemons, self.holder]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.holder.stdout is not None:
            self.holder.stdout.close()

"""The supervisor: the small Python program that does one POSIX host's whole job.

``SOURCE`` runs as ``python -I -S -c SOURCE STALE`` in the one command of a POSIX host
(see ``posix.job_command``). It is a text the server never runs itself (Python 3.6+,
stdlib only, no ``#`` anywhere so PowerShell's block comment around it holds):

1. removes this login user's fleetstat temp dirs older than ``STALE`` seconds (left
   behind by a collector that was killed);
2. reads ``"<agent bytes> <request bytes> <LIMIT>\\n"``, the agent, then the request
   from stdin (``LIMIT`` is the seconds the job may take from its start: the one part
   that differs between hosts, so the command itself is the same for all of them);
3. makes a private (0700) temp dir and stores the agent there;
4. forks the agent into a session (and process group) of its own, with the request as
   its stdin, running in this interpreter (``-I -S`` holds for it too);
5. waits until the agent exits, stdin ends (the collector gave up) or ``LIMIT`` seconds
   pass; then kills the agent's whole group *before* reaping the agent (its PID cannot
   be reused while it is unreaped), and every other process that descends from the job:
   on Linux the supervisor is a child subreaper (``prctl``), so a descendant that left
   the group (``setsid``) and lost its parent is handed to it, not to PID 1, and is
   found through ``/proc/PID/task/*/children``; then removes the temp dir, and reaps.

Messages go to stderr as ``fleetstat-job: ...`` lines (``MARK``); the agent's stdout
and stderr are the channel's own. Exit status: the agent's, or one of ``EXIT_*``.
"""

from __future__ import annotations

MARK = "fleetstat-job: "
PREFIX = "fleetstat."
AGENT_NAME = "agent.pyz"
EXIT_OLD_PYTHON = 2  # also Python 2's status for the unknown option -I
EXIT_NO_DIR = 3
EXIT_NO_PYTHON = 127
EXIT_DEADLINE = 124
EXIT_ABANDONED = 125

_BODY = r"""


def say(text):
    os.write(2, (MARK + text + "\n").encode("utf-8", "replace"))


def remove(path):
    for top, dirs, files in os.walk(path, topdown=False):
        for name in dirs + files:
            full = os.path.join(top, name)
            if os.path.isdir(full) and not os.path.islink(full):
                os.rmdir(full)
            else:
                os.unlink(full)
    os.rmdir(path)


def sweep(root, stale):
    uid, now = os.getuid(), time.time()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        full = os.path.join(root, name)
        if not name.startswith(PREFIX):
            continue
        try:
            info = os.lstat(full)
            if stat.S_ISDIR(info.st_mode) and info.st_uid == uid and now - info.st_mtime > stale:
                remove(full)
        except OSError:
            pass


def read_frame():
    data = b""
    while b"\n" not in data:
        chunk = os.read(0, 65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\n")
    fields = head.split()
    sizes = [int(fields[0]), int(fields[1])]
    parts, have = [rest], len(rest)
    while have < sizes[0] + sizes[1]:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            return None
        parts.append(chunk)
        have += len(chunk)
    data = b"".join(parts)
    return data[:sizes[0]], data[sizes[0]:sizes[0] + sizes[1]], float(fields[2])


def no_dir(err, root):
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk of %s is full (%s): free space there, or set TMPDIR" % (
            root, err.strerror)
    return err.strerror or str(err)


def make_dir(root):
    for _ in range(10):
        path = os.path.join(root, PREFIX + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)
        info = os.lstat(path)
        if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) != 0o700:
            os.rmdir(path)
            raise OSError("temp dir is not private (0700)")
        return path
    raise OSError("no free temp dir name")


def agent_main(agent, request):
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdin = io.TextIOWrapper(io.BytesIO(request), encoding="utf-8")
        sys.argv = [agent]
        import runpy
        runpy.run_path(agent, run_name="__main__")
        code = 0
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else (err.code is not None)
        if isinstance(err.code, str):
            sys.stderr.write(err.code + "\n")
    except BaseException:
        import traceback
        traceback.print_exc()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


REAPED = {}


def become_subreaper():
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except Exception:
        return False


def children_of(pid):
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return []
    found = []
    for task in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                found.extend(int(child) for child in f.read().split())
        except (OSError, ValueError):
            pass
    return found


def descendants(keep):
    found, frontier = set(), {os.getpid(), keep}
    while frontier:
        frontier = {c for pid in frontier for c in children_of(pid)} - found - {keep}
        found |= frontier
    return found


def kill_descendants(keep):
    for _ in range(20):
        pids = descendants(keep)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for _ in range(100):
            for pid in list(pids):
                try:
                    if os.waitpid(pid, os.WNOHANG)[0] == 0:
                        continue
                except OSError:
                    pass
                pids.discard(pid)
            if not pids:
                break
            time.sleep(0.005)


def exited(pid):
    if hasattr(os, "waitid"):
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    done, raw = os.waitpid(pid, os.WNOHANG)
    if done:
        REAPED[pid] = raw
    return bool(done)


def watch(pid, wake, deadline):
    while not exited(pid):
        left = deadline - time.monotonic()
        if left <= 0:
            return "deadline"
        ready = select.select([0, wake], [], [], min(left, 1.0))[0]
        if wake in ready:
            os.read(wake, 4096)
        if 0 in ready and not os.read(0, 65536):
            return "abandoned"
    return None


def status_of(raw):
    if os.WIFSIGNALED(raw):
        return 128 + os.WTERMSIG(raw)
    return os.WEXITSTATUS(raw)


def main():
    if sys.version_info < (3, 6):
        say("version Python %d.%d" % sys.version_info[:2])
        return EXIT_OLD_PYTHON
    started = time.monotonic()
    become_subreaper()
    root = os.environ.get("TMPDIR") or "/tmp"
    sweep(root, float(sys.argv[1]))
    frame = read_frame()
    if frame is None:
        return EXIT_ABANDONED
    deadline = started + frame[2]
    folder = None
    try:
        folder = make_dir(root)
        agent = os.path.join(folder, AGENT_NAME)
        with open(agent, "xb") as out:
            out.write(frame[0])
    except OSError as err:
        if folder is not None:
            try:
                remove(folder)
            except OSError:
                pass
        say("cannot make a temp dir: %s" % no_dir(err, root))
        return EXIT_NO_DIR
    say("dir=" + folder)
    wake, wake_in = os.pipe()
    os.set_blocking(wake_in, False)
    signal.set_wakeup_fd(wake_in)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    pid = os.fork()
    if pid == 0:
        os.close(wake)
        os.close(wake_in)
        agent_main(agent, frame[1])
    with open(os.path.join(folder, "pid"), "w") as out:
        out.write(str(pid))
    why = watch(pid, wake, deadline)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    kill_descendants(pid)
    try:
        remove(folder)
    except OSError as err:
        say("temp dir not removed: %s (%s)" % (folder, err.strerror or err))
    code = status_of(REAPED[pid] if pid in REAPED else os.waitpid(pid, 0)[1])
    if why == "deadline":
        say("killed at the deadline")
        return EXIT_DEADLINE
    return EXIT_ABANDONED if why else code


sys.exit(main())
"""

SOURCE = (
    "import errno, os, sys, time, stat, select, signal, io\n"
    f'MARK, PREFIX, AGENT_NAME = "{MARK}", "{PREFIX}", "{AGENT_NAME}"\n'
    f"EXIT_OLD_PYTHON, EXIT_NO_DIR = {EXIT_OLD_PYTHON}, {EXIT_NO_DIR}\n"
    f"EXIT_DEADLINE, EXIT_ABANDONED = {EXIT_DEADLINE}, {EXIT_ABANDONED}\n" + _BODY
)

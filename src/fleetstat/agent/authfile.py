"""Reading a syslog auth file (``/var/log/auth.log``, ``/var/log/secure``) across rotations.

The cursor names the file by what stays with its data: ``{"file": path, "inode": n,
"head": h, "head_len": n, "offset": n}``, where ``head`` is a hash of the first
``head_len`` bytes (up to ``HEAD_BYTES``). Between two runs logrotate may have

- renamed the file (``create``, its default): the old data is now ``auth.log.1``, or
  ``auth.log.2.gz`` after more rotations; it is found by its first bytes (and inode),
  finished from the offset, then every newer rotated file, then the new file;
- copied and truncated it (``copytruncate``): same inode, other first bytes (or a
  shorter file); the copy is found by its first bytes and finished the same way.

Data that cannot be found any more (a rotated file deleted, or in a format this
Python cannot read) is reported in ``gaps`` with the bytes skipped where they are
known, never passed over in silence.

Standard library only; runs on Python 3.6+.
"""

import hashlib
import importlib
import os
import time
import zlib

from .events_common import EventsError, empty_events
from .events_linux import SOURCE, parse_auth_line

HEAD_BYTES = 256
CHECK_EVERY = 4096  # lines between two looks at the clock when no record comes
BLOCK = 65536  # bytes read at a time when reading a file backwards
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}  # imported when needed

SECURE_ADVICE = (
    "it is readable by root only on RHEL-family systems: give the user read access "
    "(setfacl -m u:USER:r %s, and the same in logrotate's postrotate) or let it read "
    "the journal (usermod -aG systemd-journal USER)"
)
ADM_ADVICE = "add the user to the adm group, or let it read the journal (systemd-journal group)"


class Budget(object):
    """When to stop: at ``max_events`` records or after ``seconds`` of reading."""

    def __init__(self, max_events, seconds=None, clock=time.monotonic):
        self.max_events = max_events
        self.deadline = None if seconds is None else clock() + seconds
        self.clock = clock

    def full(self, count):
        """True when ``count`` records fill the cap."""
        return count >= self.max_events

    def late(self):
        """True when the time is up (callers look only after some progress, so that
        every run moves the cursor on)."""
        return self.deadline is not None and self.clock() > self.deadline

    def stop(self, count, record, lines):
        """Whether to stop before a line: the cap is full and ``record`` (not None) would
        exceed it, or the time is up after ``lines`` lines (looked at every
        ``CHECK_EVERY`` lines without a record)."""
        if record is not None and self.full(count):
            return True
        return lines > 0 and (record is not None or lines % CHECK_EVERY == 0) and self.late()


def read_auth_file(path, cursor, max_events, not_before=None, budget=None):
    """Events from a syslog auth file, oldest first, and the cursor for the next run.

    ``cursor`` is the one this function returned last time, or ``{}`` on a first run;
    a first run reads the file backwards from its end and returns the newest
    ``max_events`` records written at or after ``not_before`` (an ISO UTC time, or
    ``None`` for no time bound). Later runs return what was written since, across
    rotations (see the module's text). ``budget`` (seconds) bounds the reading time;
    a run that stops at the cap or the budget sets ``truncated`` and its cursor
    resumes there. Raises ``EventsError`` when the file cannot be read.
    """
    limit = Budget(max_events, budget)
    try:
        with open(path, "rb") as handle:
            if not cursor:
                return _first_read(path, handle, limit, not_before)
            return _later_read(path, handle, cursor, limit)
    except PermissionError as err:
        advice = SECURE_ADVICE % path if path.endswith("/secure") else ADM_ADVICE
        raise EventsError("auth events: cannot read %s (%s)" % (path, advice)) from err


def file_record_id(inode, offset, raw):
    """``<inode>:<byte offset>:<CRC-32 of the line, 8 hex digits>`` for one auth-file line.

    ``raw`` is the line's bytes as read, newline included. The checksum keeps ids
    apart when a position is used again: logrotate's ``copytruncate`` keeps the inode
    and starts the offsets over, and a deleted file's inode can be given to a new one.
    """
    return "%d:%d:%08x" % (inode, offset, zlib.crc32(raw) & 0xFFFFFFFF)


def fingerprint(data):
    """16 hex digits of the SHA-256 of ``data`` (a file's first bytes)."""
    return hashlib.sha256(data).hexdigest()[:16]


def file_cursor(path, inode, head, offset):
    """The cursor of a file whose first bytes are ``head``, read up to ``offset`` now
    (``read_at``, epoch seconds: an empty file has no first bytes to recognise it by)."""
    return {
        "file": path,
        "inode": inode,
        "head": fingerprint(head),
        "head_len": len(head),
        "offset": offset,
        "read_at": round(time.time(), 3),
    }


# ---------------------------------------------------------------- a first run


def _first_read(path, handle, limit, not_before):
    """The newest records of the open file, read backwards from its last whole line."""
    info = os.fstat(handle.fileno())
    head = _head(handle, HEAD_BYTES)
    year = time.localtime(info.st_mtime).tm_year
    end = _complete_end(handle, info.st_size)
    records, more = [], False
    for count, (offset, raw) in enumerate(_lines_backwards(handle, end)):
        record = _parse(raw, info, offset, year)
        if record is not None and not_before is not None and record["time"] < not_before:
            break
        if limit.stop(len(records), record, count):
            more = True
            break
        if record is not None:
            records.append(record)
    records.reverse()
    result = empty_events()
    result.update(records=records, truncated=more)
    result["cursor"] = {SOURCE: file_cursor(path, info.st_ino, head, end)}
    return result


def _complete_end(handle, size):
    """The offset just after the file's last newline (0 when it has none)."""
    position = size
    while position > 0:
        step = min(BLOCK, position)
        position -= step
        handle.seek(position)
        found = handle.read(step).rfind(b"\n")
        if found >= 0:
            return position + found + 1
    return 0


def _lines_backwards(handle, end):
    """``(offset, raw)`` of each line before ``end`` (newline included), the last first."""
    position, carry = end, b""
    while position > 0:
        step = min(BLOCK, position)
        position -= step
        handle.seek(position)
        pieces = (handle.read(step) + carry).split(b"\n")[:-1]
        starts = [position]
        for piece in pieces[:-1]:
            starts.append(starts[-1] + len(piece) + 1)
        for index in range(len(pieces) - 1, 0, -1):
            yield starts[index], pieces[index] + b"\n"
        carry = pieces[0] + b"\n"
    if end > 0:
        yield 0, carry


# ---------------------------------------------------------------- later runs


def _later_read(path, handle, cursor, limit):
    """Records after ``cursor``, across a rotation or truncation since the last run."""
    info = os.fstat(handle.fileno())
    pieces, gaps, reset = _plan(path, handle, info, cursor)
    result = empty_events()
    result.update(gaps=gaps, resets=[SOURCE] if reset else [])
    records, rotated = result["records"], None
    for opener, name, inode, start, last in pieces:
        done, position = _read_piece((opener, name, inode, start), records, limit)
        if not done:
            result["truncated"] = True
            result["cursor"] = {SOURCE: _cursor_of(opener, name, path, inode, position)}
            return result
        if last and rotated is not None and info.st_size == 0:
            # The new file is still empty: the writer may not have reopened it yet (the
            # HUP after a rename), so the cursor stays in the renamed file it still fills.
            result["cursor"] = {SOURCE: _cursor_of(*rotated)}
        elif last:
            head = _head(handle, HEAD_BYTES)
            result["cursor"] = {SOURCE: file_cursor(path, info.st_ino, head, position)}
        elif opener is open:
            rotated = (opener, name, path, inode, position)
    return result


def _cursor_of(opener, name, path, inode, position):
    """The cursor inside a rotated file (or the current one) where reading stopped."""
    with opener(name, "rb") as handle:
        head = _head(handle, HEAD_BYTES)
    return file_cursor(path, inode, head, position)


def _plan(path, handle, info, cursor):
    """What to read, in order: ``[(opener, file name, inode for ids, start, is_current)]``,
    the gaps found, and whether the file started over since the last run."""
    current = (open, path, info.st_ino, 0, True)
    offset = int(cursor.get("offset", 0))
    if cursor.get("inode") == info.st_ino and _same_start(handle, cursor, info.st_size, offset):
        copy = _copied_since_empty(path, cursor, info.st_ino)
        if copy is not None:  # it was empty, then copied and truncated (copytruncate)
            return [(copy[0], copy[1], _inode(copy[1]), 0, False), current], [], True
        return [(open, path, info.st_ino, offset, True)], [], False
    rotated = rotated_files(path)
    found = _find_rotated(rotated, cursor, offset)
    if found is None:
        gap = {
            "source": SOURCE,
            "file": path,
            "bytes": None,
            "reason": "%s was rotated or truncated and the data after byte %d of the "
            "file read last time is gone (deleted, or compressed in a format this "
            "Python cannot read)" % (path, offset),
        }
        return [current], [gap], True
    index, (opener, name) = found
    pieces = [(opener, name, int(cursor.get("inode", 0)), offset, False)]
    pieces += [(o, n, _inode(n), 0, False) for o, n in rotated[index + 1 :]]
    return pieces + [current], [], True


def _copied_since_empty(path, cursor, inode):
    """``(opener, name)`` of a copy of ``path`` made since the run that found it empty,
    or None. An empty file has no first bytes, so only the copy's time (written after
    ``read_at``) shows that ``copytruncate`` emptied it again in between."""
    if cursor.get("head_len") or cursor.get("offset") or "read_at" not in cursor:
        return None
    for opener, name in reversed(rotated_files(path)):
        if os.stat(name).st_mtime >= cursor["read_at"] and _inode(name) != inode:
            return opener, name
    return None


def _same_start(handle, cursor, size, offset):
    """Whether the open file still begins as it did (no truncation, no copy-over)."""
    return size >= offset and _starts_like(handle, cursor)


def _starts_like(handle, cursor):
    """Whether an open file's first bytes are the cursor's (always, for an old cursor
    that has no fingerprint: the inode is all it has)."""
    if "head" not in cursor:
        return True
    return fingerprint(_head(handle, int(cursor.get("head_len", 0)))) == cursor["head"]


def rotated_files(path):
    """``[(opener, name)]`` of the rotated copies of ``path`` beside it, oldest first.

    Any file named ``<base>.<something>`` or ``<base>-<something>`` in the same folder
    (``auth.log.1``, ``auth.log.2.gz``, ``secure-20261127``), ordered by modification
    time; compressed ones are read with ``gzip``, ``bz2`` or ``lzma``.
    """
    folder, base = os.path.split(path)
    found = []
    for name in os.listdir(folder or "."):
        if name == base or not name.startswith(base) or name[len(base)] not in ".-":
            continue
        full = os.path.join(folder, name)
        opener = _opener(name)
        if opener is not None and os.path.isfile(full):
            found.append((os.stat(full).st_mtime, _rotation_number(name), opener, full))
    found.sort(key=lambda item: (item[0], -item[1]))
    return [(opener, full) for _, _, opener, full in found]


def _opener(name):
    """How to open a rotated file: ``open``, a decompressor's ``open``, or ``None`` when
    this Python cannot read it (``bz2`` and ``lzma`` are optional parts of a build)."""
    for suffix, module in _COMPRESSED.items():
        if name.endswith(suffix):
            try:
                return importlib.import_module(module).open
            except ImportError:
                return None
    if name.endswith((".zst", ".lz4", ".Z")):
        return None
    return open


def _rotation_number(name):
    """The ``N`` of ``auth.log.N[.gz]`` (0 when there is none): higher is older."""
    for part in reversed(name.split(".")):
        if part.isdigit():
            return int(part)
    return 0


def _find_rotated(rotated, cursor, offset):
    """``(index, (opener, name))`` of the rotated file holding the cursor's data, or None.

    The plain file with the cursor's inode (a rename) when it still starts with the
    same bytes; else the newest file, plain (a copy) or compressed, that starts with
    the cursor's first bytes and is at least ``offset`` bytes long.
    """
    for index, (opener, name) in enumerate(rotated):
        renamed = opener is open and _inode(name) == cursor.get("inode")
        if renamed and _holds(opener, name, cursor, offset):
            return index, (opener, name)
    if not cursor.get("head_len"):  # nothing to recognise a copy by
        return None
    for index in range(len(rotated) - 1, -1, -1):
        opener, name = rotated[index]
        if _holds(opener, name, cursor, offset):
            return index, rotated[index]
    return None


def _holds(opener, name, cursor, offset):
    """Whether the file ``name`` starts as the cursor's file did and reaches ``offset``."""
    try:
        with opener(name, "rb") as handle:
            return _starts_like(handle, cursor) and _size(handle) >= offset
    except (OSError, EOFError, ValueError):
        return False


def _size(handle):
    """Bytes in an open (maybe decompressing) file."""
    handle.seek(0, os.SEEK_END)
    return handle.tell()


def _inode(name):
    return os.stat(name).st_ino


def _head(handle, count):
    """The first ``count`` bytes of an open file."""
    handle.seek(0)
    return handle.read(count)


def _read_piece(piece, records, limit):
    """Add the records of one file's whole lines from ``start``; ``(finished, offset)``.

    ``finished`` is False when the cap or the time budget stopped the reading; the
    offset is where the next run goes on. A last line without its newline is still
    being written and waits for the next run. ``piece`` is ``(opener, file name, inode
    for the record ids, start offset)``.
    """
    opener, name, inode, start = piece
    try:
        handle = opener(name, "rb")
    except OSError as err:
        raise EventsError("auth events: cannot read %s: %s" % (name, err)) from err
    with handle:
        info = os.stat(name)
        year = time.localtime(info.st_mtime).tm_year
        handle.seek(start)
        position = start
        for count, raw in enumerate(handle):
            if not raw.endswith(b"\n"):
                break
            record = _parse(raw, info, position, year, inode)
            if limit.stop(len(records), record, count):
                return False, position
            if record is not None:
                records.append(record)
            position += len(raw)
    return True, position


def _parse(raw, info, offset, year, inode=None):
    """The record of one raw line at ``offset``, or ``None``."""
    line = raw.decode("utf-8", "replace").rstrip("\r\n")
    record_id = file_record_id(info.st_ino if inode is None else inode, offset, raw)
    return parse_auth_line(line, year, not_after=info.st_mtime, record_id=record_id)

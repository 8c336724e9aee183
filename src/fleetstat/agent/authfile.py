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

import calendar
import collections
import hashlib
import os
import time
import zlib

from .events_common import EventsError, empty_events
from .events_linux import SOURCE, decode_line, parse_auth_line
from .rotation import rotated_files

HEAD_BYTES = 256
CHECK_EVERY = 4096  # lines between two looks at the clock when no record comes
BLOCK = 65536  # bytes read at a time when reading a file backwards

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
    """The newest records of the open file, read backwards from its last whole line,
    then of the rotated files written inside the window, newest first (an event of a
    minute ago may be in ``auth.log.1`` already)."""
    info = os.fstat(handle.fileno())
    head = _head(handle, HEAD_BYTES)
    year = time.localtime(info.st_mtime).tm_year
    end = _complete_end(handle, info.st_size)
    records, more, reached = [], False, False
    for count, (offset, raw) in enumerate(_lines_backwards(handle, end)):
        record = _parse(raw, info, offset, year)
        if record is not None and not_before is not None and record["time"] < not_before:
            reached = True
            break
        if limit.stop(len(records), record, count):
            more = True
            break
        if record is not None:
            records.append(record)
    records.reverse()
    result = empty_events()
    if not (reached or more):
        older, more, gaps = _window_of_rotated(path, limit, not_before, len(records))
        records = older + records
        result["gaps"] = gaps
    result.update(records=records, truncated=more)
    result["cursor"] = {SOURCE: file_cursor(path, info.st_ino, head, end)}
    return result


def _window_of_rotated(path, limit, not_before, have):
    """The records of the rotated files written inside the window (at or after
    ``not_before``), oldest first, at most the cap less ``have``: ``(records, whether
    some were left out, gaps)``. A file last written before the window holds nothing of
    it, and neither do the older ones."""
    since = None if not_before is None else _epoch(not_before)
    room = max(limit.max_events - have, 0)
    taken, more, gaps = [], False, []
    for opener, name in reversed(rotated_files(path)):
        if since is not None and os.stat(name).st_mtime < since:
            break
        if opener is None:
            gaps.append(_unreadable_gap(name))
            continue
        if room <= 0:  # a file of the window is left: the cap is full
            more = True
            break
        newest = collections.deque(maxlen=room)
        done, dropped = _read_window(opener, name, not_before, newest, limit)
        taken = list(newest) + taken
        room -= len(newest)
        if dropped or not done:
            more = True
            break
    return taken, more, gaps


def _read_window(opener, name, not_before, newest, limit):
    """Keep in ``newest`` (a bounded deque) the records of ``name`` at or after
    ``not_before``; ``(finished, whether any were pushed out)``."""
    dropped = False
    try:
        with opener(name, "rb") as handle:
            info = os.stat(name)
            year = time.localtime(info.st_mtime).tm_year
            position = 0
            for count, raw in enumerate(handle):
                record = _parse(raw, info, position, year)
                position += len(raw)
                if count % CHECK_EVERY == 0 and count and limit.late():
                    return False, dropped
                if record is None or (not_before is not None and record["time"] < not_before):
                    continue
                dropped = dropped or len(newest) == newest.maxlen
                newest.append(record)
    except (OSError, EOFError, ValueError) as err:
        raise EventsError("auth events: cannot read %s: %s" % (name, err)) from err
    return True, dropped


def _epoch(iso):
    """Epoch seconds (whole) of an ISO UTC time as the protocol writes them."""
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S"))


def _unreadable_gap(name):
    """The gap of a rotated file compressed in a format this Python cannot read."""
    return {
        "source": SOURCE,
        "file": name,
        "bytes": os.stat(name).st_size,
        "reason": "%s is compressed in a format this Python cannot read (use gzip, "
        "bzip2 or xz in logrotate's compresscmd)" % name,
    }


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
        return _after_a_loss(path, rotated, cursor, offset, current)
    index, (opener, name) = found
    pieces = [(opener, name, int(cursor.get("inode", 0)), offset, False)]
    later, gaps = _readable(rotated[index + 1 :])
    return pieces + later + [current], gaps, True


def _readable(rotated):
    """The pieces of whole rotated files, and a gap for each this Python cannot read."""
    pieces, gaps = [], []
    for opener, name in rotated:
        if opener is None:
            gaps.append(_unreadable_gap(name))
        else:
            pieces.append((opener, name, _inode(name), 0, False))
    return pieces, gaps


def _written_after(rotated, read_at):
    """Whether the rotated file was last written after ``read_at``: to the second for a
    compressed one (compressors keep a file's time in whole seconds)."""
    opener, name = rotated
    mtime = os.stat(name).st_mtime
    return mtime > read_at if opener is open else mtime >= int(read_at)


def _after_a_loss(path, rotated, cursor, offset, current):
    """The plan when the file the cursor points into is gone (more rotations since the
    last run than logrotate keeps): every rotated file written since then, oldest first,
    then the current one; the gap is only what is really gone."""
    read_at = cursor.get("read_at")
    newer = [] if read_at is None else [r for r in rotated if _written_after(r, read_at)]
    pieces, gaps = _readable(newer)
    kept = " (the %d rotated files written since were read)" % len(newer) if newer else ""
    gaps.insert(0, {
        "source": SOURCE,
        "file": path,
        "bytes": None,
        "reason": "the file read last time is gone since (rotated more times than "
        "logrotate keeps): what it held after byte %d, and any rotated file deleted with "
        "it, is lost%s" % (offset, kept),
    })  # fmt: skip
    return pieces + [current], gaps, True


def _copied_since_empty(path, cursor, inode):
    """``(opener, name)`` of a copy of ``path`` made since the run that found it empty,
    or None. An empty file has no first bytes, so only the copy's time (written after
    ``read_at``) shows that ``copytruncate`` emptied it again in between."""
    if cursor.get("head_len") or cursor.get("offset") or "read_at" not in cursor:
        return None
    for opener, name in reversed(rotated_files(path)):
        if opener is None:
            continue
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


def _find_rotated(rotated, cursor, offset):
    """``(index, (opener, name))`` of the rotated file holding the cursor's data, or None.

    The plain file with the cursor's inode (a rename) when it still starts with the
    same bytes; else the newest file, plain (a copy) or compressed, that starts with
    the cursor's first bytes and is at least ``offset`` bytes long.
    """
    for index, (opener, name) in enumerate(rotated):
        if opener is None:
            continue
        renamed = opener is open and _inode(name) == cursor.get("inode")
        if renamed and _holds(opener, name, cursor, offset):
            return index, (opener, name)
    if not cursor.get("head_len"):  # nothing to recognise a copy by
        return None
    for index in range(len(rotated) - 1, -1, -1):
        opener, name = rotated[index]
        if opener is not None and _holds(opener, name, cursor, offset):
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
    line = decode_line(raw).rstrip("\r\n")
    record_id = file_record_id(info.st_ino if inode is None else inode, offset, raw)
    return parse_auth_line(line, year, not_after=info.st_mtime, record_id=record_id)

"""The rotated copies of a log file, as logrotate names and places them.

``rotated_files(path)`` finds, oldest first, every copy logrotate may have made of
``path``:

- numbered: ``auth.log.1``, ``auth.log.2.gz`` (a higher number is older);
- dated (``dateext``, the default on RHEL, Rocky and Alma): ``secure-20261207``, and
  with any ``dateformat`` (``auth.log-20261207-1765100000``): a later date is newer;
- compressed by ``compress`` or any ``compresscmd``: ``.gz``, ``.bz2``, ``.xz`` are
  read; ``.zst``, ``.lz4``, ``.Z`` cannot be (the standard library has no reader), so
  they come with ``opener`` None and their data is reported as a gap, never skipped
  in silence;
- beside the file, or in a folder of the file's folder (``olddir /var/log/old``).

Standard library only; runs on Python 3.6+.
"""

import importlib
import os
import re

#: Readable compressed suffixes, and the module whose ``open`` reads each.
COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}
#: Compressed suffixes no standard library module reads.
UNREADABLE = (".zst", ".lz4", ".Z", ".lzo")
_NUMBERED = re.compile(r"\.(\d+)(?:\.[A-Za-z0-9]+)?$")
_DIGITS = re.compile(r"\d+")


def rotated_files(path):
    """``[(opener, name)]`` of the rotated copies of ``path``, oldest first (``opener``
    None for a compression this Python cannot read)."""
    folder, base = os.path.split(path)
    folder = folder or "."
    found = []
    for place in [folder] + _subfolders(folder):
        for name in _listdir(place):
            if name == base or not name.startswith(base) or name[len(base)] not in ".-":
                continue
            full = os.path.join(place, name)
            if not os.path.isfile(full):
                continue
            found.append((os.stat(full).st_mtime, _age_order(name[len(base) :]), full))
    found.sort()
    return [(opener_of(full), full) for _, _, full in found]


def _subfolders(folder):
    """The folders directly inside ``folder`` (where ``olddir`` puts rotated copies)."""
    subs = []
    for name in _listdir(folder):
        full = os.path.join(folder, name)
        if os.path.isdir(full) and not os.path.islink(full):
            subs.append(full)
    return sorted(subs)


def _listdir(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _age_order(suffix):
    """A key that sorts copies rotated in the same second oldest first: ``.N`` by N
    descending (a higher number is older), a date by its digits ascending."""
    numbered = _NUMBERED.fullmatch(suffix)
    if numbered and suffix.startswith("."):
        return (0, -int(numbered.group(1)))
    return (1, tuple(int(digits) for digits in _DIGITS.findall(suffix)))


def opener_of(name):
    """How to open a rotated file: ``open``, a decompressor's ``open``, or None when this
    Python cannot read it (``bz2`` and ``lzma`` are optional parts of a build)."""
    for suffix, module in COMPRESSED.items():
        if name.endswith(suffix):
            try:
                return importlib.import_module(module).open
            except ImportError:
                return None
    if name.endswith(UNREADABLE):
        return None
    return open

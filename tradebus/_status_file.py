"""Reading and updating ``shared_memory.json``: atomic writes merged under a lock.

A writer (one process's :class:`~tradebus.StatusReporter`) takes an exclusive
``flock`` on ``shared_memory.json.lock`` (a separate file that is never replaced),
reads the file, replaces its own entry, applies the stale rules to the others, and
writes the result to a temporary file in the same directory, ``fsync``s it and
renames it over the file (``os.replace``). Writers therefore never lose each
other's entries, and a reader (which takes no lock) always sees a whole file, the
previous one or the new one. The lock is waited for :data:`LOCK_TIMEOUT` seconds at
most (a beat that cannot take it is skipped, not queued).

A file that cannot be decoded (edited by hand, a disk fault) is never fatal: a
reader logs it and returns the entries it can decode; a writer also moves it aside
to ``shared_memory.json.unreadable`` and writes a new one from those entries (each
live process adds its own entry back at its next heartbeat). A file written by a
newer tradebus (a higher ``version``) is refused with :class:`StatusFileTooNew`,
and is never overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from writers import WriterError, open_regular_file

from ._exceptions import TradebusError
from ._status import (
    SCHEMA_VERSION,
    STATUS_FILENAME,
    ProcessStatus,
    StatusFile,
    apply_stale_rules,
    this_host,
)

__all__ = ["LOCK_TIMEOUT", "StatusFileTooNew", "read_status", "update_status"]

logger = logging.getLogger("tradebus")

#: Seconds a writer waits for the status file's lock before it skips the write.
LOCK_TIMEOUT = 2.0

_LOCK_SUFFIX = ".lock"
_UNREADABLE_SUFFIX = ".unreadable"
#: The data directories whose leftover temporary files this process removed.
_swept: set[Path] = set()
#: A status file larger than this is not read (it holds a few kB per process).
MAX_STATUS_BYTES = 16 * 1024 * 1024
_TEMP_PREFIX = f".{STATUS_FILENAME}."
_TEMP_SUFFIX = ".tmp"
_ENCODER = msgspec.json.Encoder()


class StatusFileTooNew(TradebusError):
    """The status file was written by a newer tradebus (a higher schema version)."""


def read_status(data_dir: str | os.PathLike[str]) -> StatusFile:
    """The status file of ``data_dir``, with the stale rules applied (read-only).

    A missing file (or directory) reads as a file without entries. Entries whose
    process is gone or silent come back as ``dead`` (see :mod:`tradebus._status`).

    :raises TradebusError: (a ``StatusFileTooNew``) if a newer tradebus wrote it.
    """
    path = Path(data_dir) / STATUS_FILENAME
    try:
        data = _read_bytes(path)
    except FileNotFoundError:
        return StatusFile()
    except (OSError, WriterError) as exc:
        raise TradebusError(f"cannot read the status file {path}: {exc}") from exc
    status, problems = decode_status(data, path)
    if problems:
        logger.warning(
            "the status file %s is partly unreadable (%s); showing the %d entries that "
            "could be read (its writers rebuild it at their next heartbeat)",
            path,
            "; ".join(problems),
            len(status.processes),
        )
    processes = apply_stale_rules(status.processes, now=time.time_ns(), host=this_host())
    return msgspec.structs.replace(status, processes=processes)


def update_status(
    data_dir: str | os.PathLike[str], entry: ProcessStatus, *, lock_timeout: float = LOCK_TIMEOUT
) -> StatusFile:
    """Put ``entry`` into ``data_dir``'s status file (blocking; run it in a thread).

    The others' entries are kept, marked ``dead`` if the stale rules say so.
    Returns what was written.

    :raises StatusFileTooNew: if a newer tradebus wrote the file (it is left as is).
    :raises TradebusError: if the lock cannot be taken within ``lock_timeout``
        seconds, or the file cannot be written.
    """
    directory = Path(data_dir)
    path = directory / STATUS_FILENAME
    with _locked(path.with_name(STATUS_FILENAME + _LOCK_SUFFIX), lock_timeout):
        current = _read_for_update(path)
        processes = dict(current.processes)
        processes[entry.id] = entry
        now = time.time_ns()
        merged = StatusFile(
            version=SCHEMA_VERSION,
            updated=now,
            processes=apply_stale_rules(processes, now=now, host=this_host(), keep=entry.id),
        )
        if directory not in _swept:  # once per process: leftovers of a killed writer
            _remove_leftovers(directory)
            _swept.add(directory)
        _write_atomically(path, msgspec.json.format(_ENCODER.encode(merged), indent=2))
    return merged


def decode_status(data: bytes | None, path: Path) -> tuple[StatusFile, list[str]]:
    """Decode a status file, salvaging what can be read; also say what could not.

    :raises StatusFileTooNew: if its version is newer than :data:`SCHEMA_VERSION`.
    """
    if data is None:
        return StatusFile(), [f"over {MAX_STATUS_BYTES:,} bytes"]
    try:
        status = msgspec.json.decode(data, type=StatusFile)
    except (msgspec.DecodeError, RecursionError, ValueError):
        pass  # salvage below
    else:
        _check_version(status.version, path)
        return status, []
    try:
        raw: Any = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError, ValueError) as exc:
        return StatusFile(), [f"not JSON ({exc}): torn or overwritten"]
    if not isinstance(raw, dict):
        return StatusFile(), [f"not a JSON object but a {type(raw).__name__}"]
    version = raw.get("version")
    problems: list[str] = []
    if isinstance(version, int) and not isinstance(version, bool):
        _check_version(version, path)
    else:
        problems.append(f"its version is {version!r}, not a number")
    entries = raw.get("processes")
    if not isinstance(entries, dict):
        problems.append("it has no 'processes' object")
        entries = {}
    processes: dict[str, ProcessStatus] = {}
    for key, value in entries.items():
        try:
            processes[key] = msgspec.convert(value, ProcessStatus)
        except msgspec.ValidationError as exc:
            problems.append(f"entry {key!r}: {exc}")
    updated = raw.get("updated")
    if not isinstance(updated, int) or isinstance(updated, bool):
        problems.append(f"its 'updated' is {updated!r}, not a number")
        updated = 0
    return StatusFile(updated=updated, processes=processes), problems or [
        "it does not match the schema"
    ]


def _check_version(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise StatusFileTooNew(
            f"the status file {path} has schema version {version}, newer than this "
            f"tradebus reads ({SCHEMA_VERSION}): a newer tradebus wrote it; run the same "
            "tradebus version in every process of the data directory (it is left unchanged)"
        )


def _read_bytes(path: Path) -> bytes | None:
    """The file's bytes (None: larger than :data:`MAX_STATUS_BYTES`), opened without
    following a link and only if it is a regular file (a FIFO never blocks it).

    :raises WriterError: if it is a link or not a regular file.
    """
    fd = open_regular_file(path, os.O_RDONLY, what="the status file")
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_STATUS_BYTES + 1)
    return None if len(data) > MAX_STATUS_BYTES else data


def _read_for_update(path: Path) -> StatusFile:
    try:
        data = _read_bytes(path)
    except FileNotFoundError:
        return StatusFile()
    except WriterError as exc:  # a link, a FIFO, a directory: set aside, start anew
        status, problems = StatusFile(), [str(exc)]
    else:
        status, problems = decode_status(data, path)
    if problems:
        aside = path.with_name(STATUS_FILENAME + _UNREADABLE_SUFFIX)
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        logger.warning(
            "the status file %s was unreadable (%s): moved to %s and rebuilt from the %d "
            "entries that could be read; live processes add theirs back at their next "
            "heartbeat",
            path,
            "; ".join(problems),
            aside.name,
            len(status.processes),
        )
    return status


@contextlib.contextmanager
def _locked(lock_path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path``, waiting ``timeout`` s at most."""
    try:
        fd = open_regular_file(lock_path, os.O_RDWR | os.O_CREAT, what="the status file's lock")
    except (OSError, WriterError) as exc:
        raise TradebusError(f"cannot open the status file's lock {lock_path}: {exc}") from exc
    try:
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TradebusError(
                        f"cannot lock {lock_path} within {timeout:g}s: another process "
                        "holds it (a frozen process?); this status update is skipped"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
        yield  # the lock goes with the descriptor
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fchmod(file.fileno(), 0o644)
        # No fsync: the file is rewritten every second; a rename is all readers need
        # never to see a torn file (one lost to a power cut is set aside and rebuilt).
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise TradebusError(f"cannot write the status file {path}: {exc}") from exc
        raise


def _remove_leftovers(directory: Path) -> None:
    """Remove temporary files of writers killed mid-write (the lock is held: no
    writer is writing one now)."""
    for leftover in directory.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()

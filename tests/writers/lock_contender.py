"""A process that takes and releases writer locks on command, for the lock tests.

Usage::

    python lock_contender.py

It reads commands from stdin, one a line, and answers each with one JSON line:

``acquire DATABASE ROLE``
    take ``WriterLock(DATABASE, ROLE)``: ``{"won": true, "pid": ...}``, or
    ``{"won": false, "pid": ..., "role": ..., "message": ...}`` if refused, or
    ``{"error": ...}`` for any other WriterError
``release``
    release the lock it holds: ``{"released": true}``
``fork``
    fork a child that does nothing but live (60 s at most): ``{"child": PID}``;
    the test kills it

It exits when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
import time

from writers import WriterError, WriterLock, WriterLockError


def main() -> None:
    lock: WriterLock | None = None
    for line in sys.stdin:
        command, *args = line.split()
        answer: dict[str, object]
        if command == "acquire":
            lock = WriterLock(args[0], args[1])
            try:
                lock.acquire()
                answer = {"won": True, "pid": os.getpid()}
            except WriterLockError as exc:
                answer = {"won": False, "pid": exc.pid, "role": exc.role, "message": str(exc)}
            except WriterError as exc:
                answer = {"error": str(exc)}
        elif command == "release":
            if lock is not None:
                lock.release()
            answer = {"released": True}
        elif command == "fork":
            ready, say_ready = os.pipe()
            child = os.fork()
            if child == 0:
                # os.fork() returns here once the at-fork hooks ran (the child's copies
                # of the parent's descriptors are closed): say so, then just live.
                os.write(say_ready, b"1")
                time.sleep(60)
                os._exit(0)
            os.close(say_ready)
            os.read(ready, 1)  # the parent answers once the child is past its hooks
            os.close(ready)
            answer = {"child": child}
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()

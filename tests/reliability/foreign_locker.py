"""A foreign process that ignores tradebus's lock file and locks the database itself.

Usage::

    python foreign_locker.py DATABASE MODE SECONDS

MODE ``immediate`` holds ``BEGIN IMMEDIATE``, ``exclusive`` ``BEGIN EXCLUSIVE`` and a
write (in WAL mode both take the write lock, readers still get in);
``exclusive-mode`` switches to ``locking_mode=EXCLUSIVE`` first, so that once it
holds the lock no other connection can even read (it gets the lock only while no
other connection has the database open). It prints "locked" once it holds the lock,
holds it for SECONDS, rolls back and exits.
"""

from __future__ import annotations

import sqlite3
import sys
import time


def main(database: str, mode: str, seconds: float) -> None:
    conn = sqlite3.connect(database, isolation_level=None, timeout=30.0)
    if mode == "immediate":
        conn.execute("BEGIN IMMEDIATE")
    elif mode in ("exclusive", "exclusive-mode"):
        if mode == "exclusive-mode":
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("DELETE FROM dead_letters WHERE 0")  # takes the write lock for sure
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print("locked", flush=True)
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))

"""A bench child process: ``python -m MODULE PARAMS_JSON`` with this checkout on its
path, speaking lines (one JSON value a line out; words in), its stderr kept."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

__all__ = ["LineProcess", "project_env"]


def project_env() -> dict[str, str]:
    """This process's environment, with this checkout first on ``PYTHONPATH``."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class LineProcess:
    """The child and its line protocol; a thread reads its lines into a queue (None
    once it closed its output)."""

    def __init__(self, module: str, params: dict[str, Any]) -> None:
        # Closed in close(): the file lives as long as the process writing it.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, json.dumps(params)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=project_env(),
        )
        self._reader = threading.Thread(target=self._read_lines, daemon=True)
        self._reader.start()

    def _read_lines(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        for line in stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, word: str) -> None:
        """Write ``word`` and a newline to its input."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(word + "\n")
        stdin.flush()

    def stderr_text(self) -> str:
        """The end of what it wrote to stderr."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        self.kill()
        if self.process.stdin is not None:
            self.process.stdin.close()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

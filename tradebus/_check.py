"""``tradebus check``: SQLite's full integrity check of every database, read-only."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from writers import check_database

from ._exceptions import TradebusError
from ._topology import Topology

__all__ = ["check"]


def check(data_dir: Path, console: Console, err: Console, topology: Topology | None = None) -> int:
    """Check every database of ``data_dir``; print a report; return the exit status.

    It only reads (safe while the writers run) and reads every page, so it takes
    about as long as reading the files from disk. A missing database is a problem too.

    :returns: 0 when every database is sound, 1 otherwise.
    :raises TradebusError: if ``data_dir`` is not a directory.
    """
    topology = topology or Topology.default()
    if not data_dir.is_dir():
        raise TradebusError(f"no data directory at {data_dir}")
    table = Table(title=f"tradebus check {data_dir}", title_justify="left")
    for column in ("database", "file", "result"):
        table.add_column(column)
    found: list[str] = []
    damaged = 0
    missing: list[str] = []
    for spec in topology.databases:
        path = data_dir / spec.filename
        if not path.exists() and not path.is_symlink():
            missing.append(spec.filename)
            table.add_row(spec.name, spec.filename, "[yellow]missing[/]")
            continue
        problems = check_database(path)
        if problems:
            damaged += 1
            found.extend(problems)
            result = f"[bold red]{len(problems)} problem{'s' if len(problems) > 1 else ''}[/]"
        else:
            result = "[green]ok[/]"
        table.add_row(spec.name, spec.filename, result)
    console.print(table)
    for problem in found:
        err.print(f"[bold red]tradebus: problem:[/] {escape(problem)}", soft_wrap=True)
    if damaged:
        err.print(
            f"[bold red]tradebus: error:[/] {damaged} of {len(topology.databases)} databases "
            "failed the check. Stop its writer (a writer checks a file whole at start only "
            "up to 128 MiB, so a larger one may still be written), then restore the file "
            "from a backup, or move it (with its -wal and -shm files) aside to start anew",
            highlight=False,
            soft_wrap=True,
        )
    if missing:
        err.print(
            f"[bold red]tradebus: error:[/] {escape(', '.join(missing))} "
            f"{'does' if len(missing) == 1 else 'do'} not exist in {escape(str(data_dir))}: "
            f"'tradebus init --data-dir {escape(str(data_dir))}' creates "
            f"{'it' if len(missing) == 1 else 'them'} (or restore "
            f"{'it' if len(missing) == 1 else 'them'} from a backup)",
            highlight=False,
            soft_wrap=True,
        )
    return 1 if damaged or missing else 0

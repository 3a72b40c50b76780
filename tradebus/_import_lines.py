"""A file of ticks read as blocks of lines: each block's lines split at once, and the
byte offset after any of them worked out only when asked (at a chunk's end)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import Protocol

__all__ = ["BLOCK", "Block", "Reader", "blocks"]

#: How much of a file is read and decoded at once.
BLOCK = 1 << 20


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def tell(self) -> int: ...


class Block:
    """Lines of a file read together (without their line ends), and where each ends.

    ``pieces[i]`` has the length in bytes of line ``i`` as it is in the file (its
    ``\\r`` included, its ``\\n`` not), and ``newline`` is what follows each piece
    (0 for the last line of a file that does not end with one).
    """

    __slots__ = ("_at", "_base", "_offset", "lines", "newline", "pieces")

    def __init__(
        self, lines: list[str], pieces: Sequence[str | bytes] | None, base: int, newline: int = 1
    ) -> None:
        self.lines = lines
        #: None: every line ends at ``base`` (a file decoded whole).
        self.pieces = pieces
        self.newline = newline
        self._base = base
        self._at, self._offset = 0, base  # the offset after the first _at lines

    def end(self, i: int) -> int:
        """The byte offset in the file just after line ``i`` (0: the block's first)."""
        pieces = self.pieces
        if pieces is None:
            return self._base
        if i < self._at - 1:  # asked in order as a rule: else count again
            self._at, self._offset = 0, self._base
        upto = i + 1
        self._offset += sum(map(len, pieces[self._at : upto])) + (upto - self._at) * self.newline
        self._at = upto
        return self._offset


def blocks(f: Reader, encoding: str) -> Iterator[Block]:
    """The lines of a file, read in blocks of about :data:`BLOCK` bytes.

    A line is what ends with ``\\n`` (its ``\\r`` before it is dropped), and the last
    line may have no ``\\n``; a UTF-16 file is decoded whole and split as
    :meth:`str.splitlines` does, each of its lines ending at the file's end.
    """
    if encoding == "utf-16":
        text = f.read().decode("utf-16")
        yield Block(text.splitlines(), None, f.tell())
        return
    offset, rest, first = 0, b"", True
    while True:
        block = f.read(BLOCK)
        if not block:
            if rest:  # a last line without its newline
                line = rest.decode("utf-8", errors="replace").rstrip("\r")
                if first and line.startswith("\ufeff"):
                    line = line[1:]
                yield Block([line], [rest], offset, newline=0)
            return
        block = rest + block
        end = block.rfind(b"\n") + 1
        rest = block[end:]
        if not end:
            continue
        data = block[:end]
        text = data.decode("utf-8", errors="replace")
        if first:
            first = False
            if text.startswith("\ufeff"):
                text = text[1:]
        raw = text.split("\n")
        del raw[-1]  # what follows the last newline: nothing
        lines = list(map(str.rstrip, raw, repeat("\r"))) if "\r" in text else raw
        # A character per byte: the lengths of the lines are their sizes in bytes.
        pieces: Sequence[str | bytes] = raw if data.isascii() else data.split(b"\n")[:-1]
        result = Block(lines, pieces, offset)
        offset += end
        yield result

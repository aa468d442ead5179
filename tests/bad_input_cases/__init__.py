"""Bad inputs as rows of one table: what a user types, the exact line hrlib answers, nothing lost.

Each module here (runs, zoos, probes, cli) holds a list ``CASES`` of `Case` rows about its part of
hrlib; `tests/test_bad_input_table.py` runs every row through the `hrlib` command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Case:
    """One bad input.

    `argv` and `message` are formatted with the paths of `tests.test_bad_input_table.paths`: ``{tmp}``
    (a fresh folder for this case), ``{zoo}`` and ``{hyp}`` (two small tetris zoos), ``{run}`` (a
    finished run of ``{zoo}``) and ``{probes}`` (a probe folder saved from it); those four are shared
    and must not be changed: `setup` copies what it wants to damage into ``{tmp}``. `message` is the
    whole line after ``hrlib: error: ``; ``{any}`` in it matches any text (a checksum, a process id).
    Unless `changes` is set, the files under ``{tmp}`` after the command must be exactly those before it.
    """

    id: str
    argv: tuple[str, ...]
    message: str
    setup: Callable[[dict], None] | None = None
    changes: bool = False

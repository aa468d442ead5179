"""hrlib's data cache, and the error raised when a data set's files cannot be found."""

from __future__ import annotations

import os
from pathlib import Path


class DataNotFound(FileNotFoundError):
    """No usable copy of a data set's files was found; the message lists each way to get them."""


def cache_dir() -> Path:
    """hrlib's cache: $HRLIB_CACHE, else $XDG_CACHE_HOME/hrlib, else ~/.cache/hrlib."""
    if os.environ.get("HRLIB_CACHE"):
        return Path(os.environ["HRLIB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hrlib"

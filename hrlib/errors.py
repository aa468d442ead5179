"""Errors that hrlib reports to a user as one line (the CLI prints them without a traceback).

They live apart from the code that raises them so that the CLI can catch them without importing
torch or Ray.
"""

import importlib


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


class RayUnavailable(RuntimeError):
    """Ray could not be started here or the cluster could not be reached."""


class ShardsFailed(RuntimeError):
    """Some shards failed even after Ray's retries; the others are saved and a rerun resumes."""


class OutputError(OSError):
    """A destination cannot be written (missing permission, below a file, a read-only file system)."""


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtra(f"{purpose} needs the {module} package ({err}); install it with: pip install 'hrlib[{extra}]'") from None

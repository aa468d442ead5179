"""Reading the JSON files hrlib writes, each checked against one schema before any of it is used.

A zoo's ``manifest.json``, a run's ``config.json``, a probe folder's ``probes.json``: each has one
JSON Schema (their owners define them beside their code) and is read through `read_json`, so a
missing or mistyped key is one line naming the file and the key, never a ``KeyError`` deep inside.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MAX_JSON_BYTES = 64 << 20  # hrlib's own index files are kilobytes; anything this large is not one


def _where(error) -> str:
    """The key path of a validation error, as `a.b[2].c`, or "the top level"."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return f"'{out}'" if out else "the top level"


def _validator_class():
    """jsonschema's Draft 2020-12 validator, imported without the 1.5 s that rfc3987_syntax costs.

    jsonschema imports rfc3987_syntax whenever it is installed (jupyter brings it) to check "iri"
    formats, which hrlib's schemas never use, and that package builds a grammar at import: every
    hrlib command would start 1.5 s later. It is hidden during jsonschema's first import only, and
    importable again right after."""
    hidden = "rfc3987_syntax" not in sys.modules and "jsonschema" not in sys.modules
    if hidden:
        sys.modules["rfc3987_syntax"] = None  # makes `import rfc3987_syntax` raise ImportError
    try:
        from jsonschema import Draft202012Validator
    finally:
        if hidden:
            del sys.modules["rfc3987_syntax"]
    return Draft202012Validator


def problem(data, schema: dict) -> str | None:
    """What is wrong with `data` against `schema`, in a few words, or None."""
    error = next(iter(sorted(_validator_class()(schema).iter_errors(data), key=lambda e: list(e.absolute_path))),
                 None)
    if error is None:
        return None
    if error.validator == "required":
        missing = [k for k in error.validator_value if not isinstance(error.instance, dict) or k not in error.instance]
        where = "" if not error.absolute_path else f" in {_where(error)}"
        return f"lacks the key '{missing[0]}'{where}"
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, str) else " or ".join(error.validator_value)
        article = "an" if wanted[0] in "aeio" else "a"
        return f"{_where(error)} must be {article} {wanted}, not {json.dumps(error.instance)[:40]}"
    return f"{_where(error)}: {error.message[:120]}"


def read_json(path, schema: dict, error=ValueError, what: str = "") -> dict:
    """The JSON file `path`, once it parses and matches `schema`; otherwise `error` with one line that
    names the file, the key and what hrlib expected (`what`, e.g. "an hrlib run's config")."""
    path = Path(path)
    suffix = f"; is it {what}?" if what else ""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise error(f"{path}: {path.stat().st_size >> 20} MiB, too large for an index file{suffix}")
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: missing{suffix}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise error(f"{path}: not valid JSON ({err}){suffix}") from None
    wrong = problem(data, schema)
    if wrong:
        raise error(f"{path}: {wrong}{suffix}")
    return data

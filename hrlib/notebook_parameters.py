"""Checking a notebook's parameters against their declared types, right after papermill has injected them.

papermill's ``-p quick false`` arrives as the text ``'false'``, which Python takes as true, and
``-p tables 1`` as the number 1 where text was meant. Each notebook therefore calls, in the cell after
its ``parameters`` cell::

    check_parameters(globals(), zoo=str, quick=bool, epochs=int)

and stops there, with a line per wrong parameter saying what it must be and how to pass it.
"""

from __future__ import annotations

# What each type must be, and how to pass one on papermill's command line (NAME is the parameter's name).
_EXPECTED = {
    bool: ("True or False", "-p NAME True or -p NAME False"),
    int: ("a whole number (an int)", "-p NAME N with N a whole number"),
    float: ("a number (a float)", "-p NAME X with X a number"),
    str: ("text (a str)", "-r NAME TEXT (-r passes text as typed; -p reads numbers, True, False and None as such)"),
}


def _fits(value, expected: type) -> bool:
    if expected is bool or isinstance(value, bool):  # True is an int to Python, never to a notebook
        return isinstance(value, bool) and expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def _given(value) -> str:
    if value is None:
        return "None"
    kind = type(value).__name__
    return f"{value!r} ({'an' if kind[0] in 'aeiou' else 'a'} {kind})"


def check_parameters(namespace: dict, /, **types: type) -> None:
    """Check that each named parameter in `namespace` (a notebook's ``globals()``) has its declared type.

    Args:
        namespace: the notebook's globals, after papermill's injected cell.
        types: each parameter's name and type, as the ``parameters`` cell declares it: bool, int, float
            (an int is a float too) or str.

    Raises:
        TypeError: one line per parameter of another type, naming it, its type, what was given and how
            to pass it, e.g. ``parameter quick must be True or False, got 'maybe' (a str); pass -p quick
            True or -p quick False``.
    """
    wrong = []
    for name, expected in types.items():
        if expected not in _EXPECTED:
            raise TypeError(f"parameter {name}: cannot check the type {expected!r}; declare bool, int, float or str")
        if name not in namespace:
            raise NameError(f"parameter {name} is not set; the parameters cell should declare it")
        value = namespace[name]
        if not _fits(value, expected):
            what, how = _EXPECTED[expected]
            how = how.replace("NAME", name).replace("TEXT", "TEXT" if value is None else str(value))
            wrong.append(f"parameter {name} must be {what}, got {_given(value)}; pass {how}")
    if wrong:
        raise TypeError("\n".join(wrong))

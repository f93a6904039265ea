"""Parsing values with units from the command line and recipes. Inside the program: seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|sec|min)\s*$")
_SCALE = {"ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0}


def parse_duration(text: str) -> float:
    """``"80ms"``, ``"0.08s"``, ``"2min"`` → seconds. Bare numbers are refused (ms or s?).

    Raises
    ------
    ValueError
        With the accepted units in the message.

    Examples
    --------
    >>> parse_duration("80ms")
    0.08
    """
    match = _DURATION.match(str(text))
    if not match:
        hint = " (a bare number is ambiguous: write 80ms or 0.08s)" if re.match(r"^\s*[0-9.]+\s*$", str(text)) else ""
        raise ValueError(f"invalid duration {text!r}{hint}; use a number with a unit: ms, s or min")
    return float(match.group(1)) * _SCALE[match.group(2)]

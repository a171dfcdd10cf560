"""Value checks of configuration sections: every number has a range, and an error names its key."""

from __future__ import annotations

import math

from longbench.errors import LongbenchError


def require(cond: bool, msg: str) -> None:
    """Raise ``config: msg`` unless ``cond`` holds."""
    if not cond:
        raise LongbenchError(f"config: {msg}")


def check_range(value: float, key: str, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False, hi_open: bool = False, why: str = "") -> None:
    """Raise naming ``key`` unless ``value`` lies in the interval (None: unbounded on that side; NaN and
    infinite floats never do)."""
    bad = not math.isfinite(value) if isinstance(value, float) else False
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        interval = (("(" if lo_open else "[") + ("-inf" if lo is None else f"{lo:g}") + ", "
                    + ("inf" if hi is None else str(hi) if isinstance(hi, int) else f"{hi:g}")
                    + (")" if hi_open or hi is None else "]"))
        raise LongbenchError(f"config: {key}={value!r} must lie in {interval}" + (f" ({why})" if why else ""))


def require_choice(value: str, key: str, choices: tuple[str, ...] | list[str]) -> None:
    """Raise naming ``key`` unless ``value`` is one of ``choices``."""
    require(value in choices, f"{key}={value!r}: expected one of {', '.join(choices)}")

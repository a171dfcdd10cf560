"""Typed metric options: CLI values arrive as strings (``--metric-arg count.nms_iou=0.4``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from longbench.errors import LongbenchError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(value: Any) -> bool:
    """``True``/``False`` or one of 1/0, true/false, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def coerce_options(metric: str, options: dict[str, Any], types: dict[str, Callable[[Any], Any]]) -> dict[str, Any]:
    """Check option names and convert string values with ``types`` (name → converter).

    Non-string values (Python callers passing objects) are kept as they are.

    Raises:
        LongbenchError: an unknown option or a value that does not convert.
    """
    out = {}
    for key, value in options.items():
        if key not in types:
            known = ", ".join(sorted(types))
            raise LongbenchError(f"metric {metric!r} has no option {key!r} (options: {known})")
        if isinstance(value, str):
            try:
                value = types[key](value)
            except (TypeError, ValueError) as e:
                raise LongbenchError(f"metric {metric!r} option {key}={value!r}: {e}") from None
        out[key] = value
    return out

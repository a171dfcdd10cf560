"""One generic registry for models, metrics and suites.

Entries are either objects or lazy ``"module:attr"`` strings, resolved on first use, so listing
names never imports torch. Plugins register through Python entry points in the groups
``longbench.models``, ``longbench.metrics`` and ``longbench.suites``.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable
from importlib import metadata
from typing import Any

from longbench.errors import LongbenchError, UnknownNameError

logger = logging.getLogger(__name__)


def import_string(target: str) -> Any:
    """Import ``"package.module:attr"`` (attr may be dotted)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise LongbenchError(f"invalid import target {target!r}: expected 'module:attr'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise LongbenchError(f"cannot import module {module_name!r} for {target!r}: {e}") from e
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as e:
            raise LongbenchError(f"module {module_name!r} has no attribute {attr!r}") from e
    return obj


class Registry:
    """Name → object registry with lazy entries, entry-point plugins and helpful errors."""

    def __init__(self, kind: str, entry_point_group: str, builtins: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builtins = builtins  # "module:DICT" of built-in lazy entries, loaded on first use
        self._entries: dict[str, Any] = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._builtins:
            for name, target in import_string(self._builtins).items():
                self._entries.setdefault(name, target)
        try:
            eps = metadata.entry_points(group=self.entry_point_group)
        except Exception:  # pragma: no cover - broken environment metadata
            eps = []
        for ep in eps:
            if ep.name in self._entries:
                logger.warning("plugin %s %r shadows nothing: name already registered", self.kind, ep.name)
                continue
            self._entries[ep.name] = ep.value

    def register(self, name: str, target: Any = None) -> Callable[[Any], Any] | Any:
        """Register ``target`` (object or ``"module:attr"``) under ``name``; decorator if no target."""
        self._load()
        if target is None:
            def deco(obj: Any) -> Any:
                self._entries[name] = obj
                return obj
            return deco
        self._entries[name] = target
        return target

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def target(self, name: str) -> Any:
        """The raw entry (string or object) without importing it."""
        self._load()
        if name not in self._entries:
            raise self.unknown(name)
        return self._entries[name]

    def get(self, name: str) -> Any:
        """Resolve ``name``, importing a lazy entry on first use."""
        entry = self.target(name)
        if isinstance(entry, str):
            entry = import_string(entry)
            self._entries[name] = entry
        return entry

    def unknown(self, name: str) -> UnknownNameError:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(self.names())
        return UnknownNameError(f"unknown {self.kind} {name!r}{hint} (known: {known})")


MODELS = Registry("model kind", "longbench.models", "longbench.models:BUILTIN")
METRICS = Registry("metric", "longbench.metrics", "longbench.metrics:BUILTIN")
SUITES = Registry("suite", "longbench.suites", "longbench.suites:BUILTIN")

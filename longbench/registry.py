"""One generic registry for every pluggable family: models, metrics, suites, judges, count detectors, suite
importers and long-prompt strategies (the trainer's stages use it too).

Entries are objects, lazy ``"module:attr"`` strings, or :class:`Entry` declarations (a lazy target plus
what the ``list`` commands show), resolved on first use: listing the built-ins never imports their
implementations (torch, transformers, diffusers). Plugins register through Python entry points, one group
per family (``Registry.entry_point_group``): ``longbench.models``, ``longbench.metrics``, ``longbench.suites``,
``longbench.judges``, ``longbench.detectors``, ``longbench.importers`` and ``longbench.long_prompt_strategies``;
a plugin's entry point may name an :class:`Entry` to be listed without importing its implementation either.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Entry:
    """A lazy registry entry that declares what listing shows, so listing needs no import of ``target``.

    Which fields apply depends on the registry: a metric declares ``columns``, ``options`` (its
    ``--metric-arg`` options) and ``weights`` (for ``longbench doctor``: a ``"module:function"`` returning the
    status of its default weights without importing the metric, ``""`` when it needs none; left ``None``,
    the doctor imports the metric and asks it), a model kind ``options`` (its ``--model-arg`` options), a
    suite ``version``, ``size`` and ``sha256``. ``options`` is the implementation's own options dataclass
    (its ``Options``; see :mod:`longbench.options`), given as the class or as a lazy ``"module:attr"``, kept
    in a module that imports no torch. Tests check every built-in declaration against its implementation.
    """

    target: str  # "module:attr"
    summary: str = ""
    columns: Mapping[str, bool] = field(default_factory=dict)  # column → higher is better
    options: str | type | None = None
    version: str = ""
    size: int | None = None
    sha256: str = ""
    weights: str | None = None


class Registry:
    """Name → object registry with lazy entries, entry-point plugins and helpful errors."""

    def __init__(self, kind: str, entry_point_group: str, builtins: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builtins = builtins  # "module:DICT" of built-in lazy entries, loaded on first use
        self._entries: dict[str, Any] = {}  # as registered: object, "module:attr" or Entry
        self._resolved: dict[str, Any] = {}  # name → imported object (declarations stay in _entries)
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
        self._resolved.pop(name, None)
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
        """The entry without importing it: an object, or the ``"module:attr"`` string of a lazy entry."""
        entry = self._raw(name)
        return entry.target if isinstance(entry, Entry) else entry

    def declared(self, name: str) -> Entry | None:
        """The :class:`Entry` declared for ``name`` (no import), or None when there is none."""
        entry = self._raw(name)
        return entry if isinstance(entry, Entry) else None

    def declaration(self, name: str) -> Entry | None:
        """Like :meth:`declared`, but a lazy string entry (a plugin's entry point) is imported to see whether
        it names an :class:`Entry`; the implementation behind an Entry is never imported."""
        entry = self._raw(name)
        if isinstance(entry, str) and name not in self._resolved:
            obj = import_string(entry)
            if isinstance(obj, Entry):
                self._entries[name] = entry = obj
            else:
                self._resolved[name] = obj
        return entry if isinstance(entry, Entry) else None

    def options(self, name: str) -> type | None:
        """The options dataclass of ``name``: its declaration's (the implementation is not imported; None when
        it declares none), else the implementation's ``Options`` (None when it has none)."""
        declared = self.declaration(name)
        if declared is not None:
            opts = declared.options
            return import_string(opts) if isinstance(opts, str) else opts
        return getattr(self.get(name), "Options", None)

    def get(self, name: str) -> Any:
        """Resolve ``name``, importing a lazy entry on first use."""
        entry = self._raw(name)
        if name in self._resolved:
            return self._resolved[name]
        obj = entry
        if isinstance(obj, str):  # a string naming an Entry (a plugin's declaration) is followed once
            obj = import_string(obj)
            if isinstance(obj, Entry):
                self._entries[name] = entry = obj
        if isinstance(obj, Entry):
            obj = import_string(obj.target)
        if obj is not entry:
            self._resolved[name] = obj
        return obj

    def _raw(self, name: str) -> Any:
        self._load()
        if name not in self._entries:
            raise self.unknown(name)
        return self._entries[name]

    def unknown(self, name: str) -> UnknownNameError:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(self.names())
        return UnknownNameError(f"unknown {self.kind} {name!r}{hint} (known: {known})")


MODELS = Registry("model kind", "longbench.models", "longbench.models:BUILTIN")
METRICS = Registry("metric", "longbench.metrics", "longbench.metrics:BUILTIN")
SUITES = Registry("suite", "longbench.suites", "longbench.suites:BUILTIN")
JUDGES = Registry("judge kind", "longbench.judges", "longbench.judges:BUILTIN")
DETECTORS = Registry("detector", "longbench.detectors", "longbench.metrics:BUILTIN_DETECTORS")
IMPORTERS = Registry("import format", "longbench.importers", "longbench.suites.importers:BUILTIN")
LONG_PROMPT_STRATEGIES = Registry("long-prompt strategy", "longbench.long_prompt_strategies",
                                  "longbench.models:BUILTIN_LONG_PROMPT_STRATEGIES")

"""How chatty the third-party libraries are: one setting, from the command line's ``-v`` count.

Quiet by default: transformers, diffusers and huggingface_hub log errors only and draw no progress bars
("Loading weights", "Loading pipeline components", "Writing model shards"), accelerate and peft log errors
only, and Python warnings raised inside these libraries are not shown. That hides, among others, the
tokenizer's "Token indices sequence length is longer than the specified maximum sequence length" —
which a long-prompt benchmark triggers by design — and LoRA-loading chatter. ``-v`` restores the
libraries' own defaults (warnings and progress bars); ``-vv`` adds their info messages. longbench's own
log messages (``logging`` with the level from ``-v``) and the run's rich progress bars are not affected.

The libraries are not imported here (transformers and diffusers cost seconds, and most commands never
load a model): the setting is applied at once to those already imported and, through an import hook,
to the others the moment they are first imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

#: loggers of libraries that log through the standard hierarchy (no verbosity API of their own)
PLAIN_LOGGERS = ("accelerate", "peft")
#: Python warnings raised from these packages are hidden unless -v
WARNING_MODULES = r"(transformers|diffusers|huggingface_hub|accelerate|peft)(\..*)?$"

_verbose = 0
_warning_filter: tuple[Any, ...] | None = None


def _library_level() -> int:
    return logging.ERROR if _verbose == 0 else logging.WARNING if _verbose == 1 else logging.INFO


def _apply_hf_logging(module: ModuleType) -> None:
    """transformers.utils.logging and diffusers.utils.logging share this API."""
    module.set_verbosity(_library_level())
    (module.enable_progress_bar if _verbose else module.disable_progress_bar)()


def _apply_hub(module: ModuleType) -> None:
    """huggingface_hub.utils (an HF_HUB_DISABLE_PROGRESS_BARS set by the user keeps priority)."""
    module.logging.set_verbosity(_library_level())
    with warnings.catch_warnings():  # the hub warns when that variable overrides the call
        warnings.simplefilter("ignore")
        (module.enable_progress_bars if _verbose else module.disable_progress_bars)()


#: module → how to apply the setting to it once it is imported
LIBRARIES: dict[str, Callable[[ModuleType], None]] = {
    "huggingface_hub.utils": _apply_hub,
    "transformers.utils.logging": _apply_hf_logging,
    "diffusers.utils.logging": _apply_hf_logging,
}


def level() -> int:
    """The current ``-v`` count (for a child process that should be as chatty as its parent)."""
    return _verbose


def configure(verbose: int) -> None:
    """Set the libraries' verbosity and progress bars from the ``-v`` count (0: quiet; module docstring)."""
    global _verbose, _warning_filter
    _verbose = max(0, int(verbose))
    for name in PLAIN_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if _verbose else logging.ERROR)
    if _warning_filter in warnings.filters:
        warnings.filters.remove(_warning_filter)
    _warning_filter = None
    if not _verbose:
        warnings.filterwarnings("ignore", module=WARNING_MODULES)
        _warning_filter = warnings.filters[0]
    for name, apply in LIBRARIES.items():
        module = sys.modules.get(name)
        if module is not None:
            apply(module)
    if not any(isinstance(f, _ApplyOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _ApplyOnImport())


class _ApplyOnImport(importlib.abc.MetaPathFinder):
    """Finds the modules of ``LIBRARIES`` with the other finders and applies the setting right after
    each one executes (before the code that imported it continues)."""

    def __init__(self) -> None:
        self._finding: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        apply = LIBRARIES.get(fullname)
        if apply is None or fullname in self._finding:
            return None
        self._finding.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.discard(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ApplyingLoader(spec.loader, apply)
        return spec


class _ApplyingLoader(importlib.abc.Loader):
    """The module's own loader, plus the setting applied after the module executes."""

    def __init__(self, loader: Any, apply: Callable[[ModuleType], None]):
        self._loader = loader
        self._apply = apply

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._apply(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, is_package, ... of the real loader
        return getattr(self._loader, name)

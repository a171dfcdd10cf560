"""Model adapters: ``generate(requests) -> images``.

A spec is ``kind:arg`` (``diffusers:DIR``, ``images:DIR``, ``synth:oracle`` ...). ``kind`` is looked up in
the model registry; the adapter class receives ``arg`` and the ``--model-arg`` key/values, and declares
its options once as a dataclass (``Options``, :mod:`longbench.models.options` for the built-ins), so a typo
or a badly typed value is a one-line error rather than a silently ignored option.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from longbench.errors import LongbenchError
from longbench.options import NoOptions, build_options
from longbench.registry import MODELS

if TYPE_CHECKING:
    from PIL import Image

    from longbench.suites.base import Item


@dataclass(frozen=True)
class Request:
    """One image to make: the suite item (prompt and annotations) and its seed."""

    item: Item
    seed: int

    @property
    def item_id(self) -> str:
        return self.item.id

    @property
    def prompt(self) -> str:
        return self.item.prompt

    def content_hash(self) -> str:
        """Hash of what a model may read from the item (prompt, annotations), for the image cache key."""
        from longbench.suites.base import canonical_json

        blob = canonical_json({k: v for k, v in self.item.to_dict().items() if k != "id"})
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def request_seed(global_seed: int, suite_name: str, item_id: str) -> int:
    """Per-item seed from (global seed, suite, item id): independent of order, batch and --limit."""
    digest = hashlib.sha256(f"{global_seed}\x00{suite_name}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class Model(ABC):
    """Base class of model adapters."""

    kind: ClassVar[str] = ""
    #: the dataclass of the adapter's ``--model-arg`` options, named by its registry entry too (module
    #: docstring); None: free-form, every key is passed on as given (``python:``)
    Options: ClassVar[type | None] = NoOptions
    #: whether generated images should be cached on disk (False for adapters that read files)
    cache_images: ClassVar[bool] = True

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        self.arg = arg
        given = dict(args or {})
        #: every option, the unset ones at their declared defaults (None for a free-form adapter)
        self.options: Any = None
        #: the options given, converted: with the spec, what identifies the images (cache key, results)
        self.args: dict[str, Any] = given
        if self.Options is not None:
            self.options = build_options(self.Options, given, f"model {self.kind!r}")
            self.args = {k: getattr(self.options, k) for k in given}

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.arg}"

    def identity(self) -> dict[str, Any]:
        """Everything that determines the images (goes into the cache key and the results)."""
        return {"spec": self.spec, "args": self.args}

    def identity_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def prepare(self, requests: Sequence[Request]) -> None:
        """Called once with every request before generation (validate inputs early)."""

    def image_path(self, request: Request) -> str | None:
        """Where the image of ``request`` lives when the adapter reads files (uncached adapters)."""
        return None

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        """Return one RGB image per request, in order."""


def parse_spec(spec: str) -> tuple[str, str]:
    kind, sep, arg = spec.partition(":")
    if not sep:
        # A bare "org/name" or directory is shorthand for diffusers.
        if "/" in spec or spec.startswith("."):
            return "diffusers", spec
        raise LongbenchError(f"model spec {spec!r} has no kind: use KIND:ARG (kinds: {', '.join(MODELS.names())})")
    if kind not in MODELS:
        raise MODELS.unknown(kind)
    return kind, arg


def build_model(spec: str, args: dict[str, Any] | None = None) -> Model:
    kind, arg = parse_spec(spec)
    cls = MODELS.get(kind)
    return cls(arg, args)

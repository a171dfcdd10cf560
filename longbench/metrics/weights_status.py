"""The default weights of the built-in metrics as ``longbench doctor`` checks them, importable without the
metrics themselves (importing a metric imports torchmetrics, which alone costs seconds). The registry
entries name these functions (``Entry.weights``); each returns exactly what its metric's ``weights_status()``
returns, which ``tests/test_cli_listing.py`` checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from longbench.metrics import options as O


def hf_weights_status(specs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """``[{spec, available, where}]`` for ``(role, Hugging Face id or directory)`` pairs, resolved offline."""
    from longbench.errors import MissingWeightsError
    from longbench.weights import resolve

    out = []
    for role, spec in specs:
        try:
            where = str(resolve(spec, what=role))
            out.append({"spec": f"{role}: {spec}", "available": True, "where": where})
        except MissingWeightsError:
            out.append({"spec": f"{role}: {spec}", "available": False, "where": "not in the HF cache"})
    return out


def clipscore() -> list[dict[str, Any]]:
    return hf_weights_status([("model", O.ClipScoreOptions.model)])


def segment_align() -> list[dict[str, Any]]:
    return hf_weights_status([("model", O.SegmentAlignOptions.model)])


def denscore() -> list[dict[str, Any]]:
    return hf_weights_status([("model", O.DenscoreOptions.model), ("processor", O.DENSCORE_PROCESSOR)])


def count() -> list[dict[str, Any]]:
    return hf_weights_status([("owlv2 detector", O.OWLV2_MODEL)])


def vqa() -> list[dict[str, Any]]:
    return hf_weights_status([("judge", O.VQA_JUDGE)])


def fid() -> list[dict[str, Any]]:
    from longbench.metrics.fid_features import inception_weights_status

    return inception_weights_status()


def fid_clip() -> list[dict[str, Any]]:
    from longbench.metrics.fid_features import open_clip_weights_status

    return open_clip_weights_status(O.CLIPFIDOptions.model, None)


def caption_match() -> list[dict[str, Any]]:
    return hf_weights_status([("captioner", O.CaptionMatchOptions.model)])

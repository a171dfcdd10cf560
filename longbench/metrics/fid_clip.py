"""``fid-clip``: FID on an open_clip image tower's embeddings (the machinery is :class:`~longbench.metrics.fid.
FrechetMetric`'s; only the feature network differs, see ``docs/fid.md``)."""

from __future__ import annotations

from typing import Any, ClassVar

from longbench.metrics.fid import FrechetMetric
from longbench.metrics.options import CLIPFIDOptions


class CLIPFID(FrechetMetric):
    """FID on an open_clip image tower's embeddings (``fid-clip``; default ViT-B-32 / openai, as clean-fid).

    Args:
        model: built-in open_clip architecture, ``local-dir:DIR`` (or a directory with ``open_clip_config.json``)
            or ``hf-hub:ORG/REPO`` (from the Hugging Face cache).
        pretrained: checkpoint file or open_clip tag, for built-in architectures (default ``openai``).
        normalize: L2-normalise the embeddings first (default False).
        ref, by_bucket, batch_size, kwargs: see :class:`FrechetMetric`.
    """

    name = "fid-clip"
    version = "1"
    columns: ClassVar[dict[str, bool]] = {"fid-clip": False}
    DEFAULT_MODEL = CLIPFIDOptions.model
    Options = CLIPFIDOptions

    def __init__(self, model: str = DEFAULT_MODEL, pretrained: str | None = None, *, normalize: bool = False,
                 **kwargs: Any):
        from longbench.metrics.fid_features import OpenClipFeatures

        super().__init__(OpenClipFeatures(model, pretrained, normalize=normalize), **kwargs)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        """For ``longbench doctor``: whether the default open_clip weights resolve offline."""
        from longbench.metrics.weights_status import fid_clip

        return fid_clip()

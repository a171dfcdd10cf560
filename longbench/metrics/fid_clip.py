"""``fid-clip``: FID on a CLIP image tower's embeddings — open_clip's, or the miniature zoo's ``mini:clip`` (the
machinery is :class:`~longbench.metrics.fid.FrechetMetric`'s; only the feature network differs, see
``docs/fid.md``)."""

from __future__ import annotations

from typing import Any, ClassVar

from longbench.metrics.fid import FrechetMetric
from longbench.metrics.options import CLIPFIDOptions


class CLIPFID(FrechetMetric):
    """FID on a CLIP image tower's embeddings (``fid-clip``; default open_clip ViT-B-32 / openai, as clean-fid).

    Args:
        model: built-in open_clip architecture, ``local-dir:DIR`` (or a directory with ``open_clip_config.json``),
            ``hf-hub:ORG/REPO`` (from the Hugging Face cache), or a miniature zoo model (``mini:clip``: its
            transformers image tower and image processor, :class:`~longbench.metrics.fid_features.
            ClipScorerFeatures`).
        pretrained: checkpoint file or open_clip tag, for built-in architectures (default ``openai``).
        normalize: L2-normalise the embeddings first (default False).
        zoo: the zoo directory of a ``mini:`` model (default: the shipped weights).
        ref, by_bucket, batch_size, kwargs: see :class:`FrechetMetric`.
    """

    name = "fid-clip"
    version = "1"
    columns: ClassVar[dict[str, bool]] = {"fid-clip": False}
    DEFAULT_MODEL = CLIPFIDOptions.model
    Options = CLIPFIDOptions

    def __init__(self, model: str = DEFAULT_MODEL, pretrained: str | None = None, *, normalize: bool = False,
                 zoo: str | None = None, **kwargs: Any):
        from longbench.errors import LongbenchError
        from longbench.metrics.fid_features import ClipScorerFeatures, OpenClipFeatures
        from longbench.mini.zoo import is_zoo_spec

        if is_zoo_spec(model):
            if pretrained:
                raise LongbenchError(f"fid-clip: model {model!r} carries its own weights; pretrained= is only for "
                                     "built-in open_clip architectures")
            extractor: Any = ClipScorerFeatures(model, normalize=normalize, zoo=zoo)
        else:
            extractor = OpenClipFeatures(model, pretrained, normalize=normalize)
        super().__init__(extractor, **kwargs)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        """For ``longbench doctor``: whether the default open_clip weights resolve offline."""
        from longbench.metrics.weights_status import fid_clip

        return fid_clip()

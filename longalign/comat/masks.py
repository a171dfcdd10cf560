"""Entity masks for attribute concentration.

* ``scene`` — exact masks of the synthetic worlds: the pixels each group's objects cover in the rendered
  training scene (``Renderer.entity_masks`` of ``longbench.synth.render`` / ``longbench.mini.render``; the
  layout seed is the one the dataset draws the image with). They say where the prompt's scene puts each
  entity, independent of what the model drew.
* ``grounded-sam`` — what the reference does with Grounded-SAM, with transformers models: Grounding DINO
  (``GroundingDinoForObjectDetection``, the ``count`` metric's detector) boxes each entity on the generated
  image, one query ``"<name>."`` per entity; every box scoring above ``comat.box_threshold`` prompts SAM
  (``SamModel``, one mask per box, ``multimask_output=False``), and an entity's mask is the union of its boxes'
  masks (empty when nothing is detected).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError, MissingWeightsError, first_line

if TYPE_CHECKING:
    import torch

    from longalign.comat.entities import WorldPrompt


def scene_masks(prompt: WorldPrompt) -> torch.Tensor:
    """(E, S, S) bool masks of the prompt's entities, rendered from its scene."""
    import torch

    if prompt.world == "synth":
        from longbench.synth.render import Renderer

        masks = Renderer(prompt.image_size).entity_masks(prompt.scene, prompt.seed)
    elif prompt.world == "mini":
        from longbench.mini.render import Renderer as MiniRenderer
        from longbench.mini.world import IMAGE_SIZE

        masks = MiniRenderer(prompt.image_size // IMAGE_SIZE).entity_masks(prompt.scene, prompt.seed)
    else:
        raise LongbenchError(f"no renderer for world {prompt.world!r}")
    groups = [e.group for e in prompt.entities]
    return torch.from_numpy(masks[groups]) if groups else torch.zeros(0, prompt.image_size, prompt.image_size,
                                                                       dtype=torch.bool)


class GroundedSam:
    """Grounding DINO boxes + SAM masks (module docstring).

    Args:
        detector: a :class:`longbench.metrics.count.GroundingDinoDetector`.
        sam: a transformers ``SamModel``.
        sam_processor: its ``SamProcessor``.
        box_threshold: a box belongs to the entity it was queried for when its score exceeds this.
    """

    def __init__(self, detector: Any, sam: Any, sam_processor: Any, box_threshold: float = 0.3):
        self.detector = detector
        self.sam = sam
        self.sam_processor = sam_processor
        self.box_threshold = float(box_threshold)

    @classmethod
    def load(cls, grounding_model: str, grounding_processor: str, sam_model: str, sam_processor: str, *,
             box_threshold: float, device: str, dtype: str = "float32") -> GroundedSam:
        """Load both models offline and strictly (a missing or partial checkpoint is a one-line error)."""
        from transformers import AutoProcessor, SamModel

        from longbench.metrics.count import load_detector
        from longbench.weights import from_pretrained_strict, resolve

        detector = load_detector("grounding-dino", grounding_model, grounding_processor or None, device=device,
                                 dtype=dtype)
        path = resolve(sam_model, what="comat SAM model")
        proc_path = resolve(sam_processor, what="comat SAM processor") if sam_processor else path
        try:
            sam = from_pretrained_strict(SamModel, path, what=f"comat SAM model {sam_model!r}", local_files_only=True)
            proc = AutoProcessor.from_pretrained(str(proc_path), local_files_only=True)
        except (OSError, ValueError) as e:
            raise MissingWeightsError(f"comat SAM model {sam_model!r}: cannot load from {path} ({first_line(e)})") \
                from None
        sam = sam.to(device=device).eval().requires_grad_(False)
        return cls(detector, sam, proc, box_threshold)

    def masks(self, images: torch.Tensor, names: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Per image of float (B,3,H,W) ``images`` in [0,1], the (E, H, W) bool masks of its entity ``names``."""
        import torch
        from torchvision.transforms.v2 import functional as tvf

        quantised = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
        pils = [tvf.to_pil_image(img) for img in quantised]
        found = self.detector.detect(pils, [list(n) for n in names])
        h, w = images.shape[-2:]
        out = []
        with torch.no_grad():
            for pil, per_entity in zip(pils, found):
                boxes, owners = [], []
                for e, (b, s) in enumerate(per_entity):
                    keep = s > self.box_threshold
                    boxes.extend(b[keep].tolist())
                    owners.extend([e] * int(keep.sum()))
                masks = torch.zeros(len(per_entity), h, w, dtype=torch.bool)
                if boxes:
                    device = next(self.sam.parameters()).device
                    inputs = self.sam_processor(images=[pil], input_boxes=[boxes], return_tensors="pt")
                    outputs = self.sam(**{k: v.to(device) for k, v in inputs.items()}, multimask_output=False)
                    per_box = self.sam_processor.post_process_masks(outputs.pred_masks.cpu(), inputs["original_sizes"],
                                                                    inputs["reshaped_input_sizes"])[0][:, 0]
                    for e, m in zip(owners, per_box):
                        masks[e] |= m.bool()
                out.append(masks)
        return out

"""CoMat (arXiv 2404.03653) on the trainer's machinery: the parts the ``comat`` stage adds to a reward rollout.

* :mod:`~longalign.comat.attention` — recording the cross-attention probabilities of chosen UNet calls with
  diffusers attention processors;
* :mod:`~longalign.comat.losses` — attribute concentration: TokenCompose's token and pixel losses;
* :mod:`~longalign.comat.entities` — which prompt words name each entity, and their rows in the segment-encoded
  context;
* :mod:`~longalign.comat.masks` — entity masks: exact (rendered from the synthetic worlds' scenes) or
  GroundingDINO boxes + SAM masks on the generated image;
* :mod:`~longalign.comat.discriminator` — fidelity preservation: a discriminator built from the pretrained
  UNet, and the base model's latents it learns as "real".

The stage itself is :mod:`longalign.stages.comat`; docs/training.md states the method and every difference
from the reference code.
"""

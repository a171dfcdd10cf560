"""What evaluation needs to run a longSD model (DESIGN §2): the library side of the LongAlign method.

* :mod:`~longbench.longsd.encoding` — segment-level prompt encoding (``SegmentEncoder``) and the
  ``long_prompt=segment`` strategy of ``diffusers:`` models;
* :mod:`~longbench.longsd.t5_adapter` — the T5 adapter of the optional T5 branch;
* :mod:`~longbench.longsd.checkpoint` — the longSD checkpoint format (manifest, base probe, writing);
* :mod:`~longbench.longsd.lora` — its UNet LoRA as peft state dicts (read, stack, fuse);
* :mod:`~longbench.longsd.release` — the LongAlign authors' released ``.pt`` LoRA lists, converted to it.

The trainer (``longalign``) imports these; nothing here imports the trainer. Importing this package is
cheap: torch, diffusers and transformers are imported inside the modules that need them.
"""

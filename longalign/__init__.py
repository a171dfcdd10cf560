"""longalign: the LongAlign reference trainer (segment encoding, training stages, longSD checkpoints).

Importing this package is cheap; torch, diffusers and transformers are imported inside the modules that
need them. Stages are run with ``longbench train --stage S --config cfg.yaml`` (``longalign.commands``).
"""

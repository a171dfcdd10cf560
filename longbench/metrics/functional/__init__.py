"""Pure functional twins of the metrics (tensor or number in, tensor or number out; no state, no loading).

One module per metric family: ``clipscore``, ``denscore``, ``segment_align``, ``caption_match``, ``count``,
``synth`` (also the ``mini`` metric), ``vqa`` and ``fid`` (also ``fid-clip``). Each metric class calls its twin
for the arithmetic; ``tests/metric_tester.py`` checks that the class and the twin agree.
"""

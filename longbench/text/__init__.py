"""Text utilities: the CLIP tokenizer (offline), sentence splitters, token counting, length buckets."""

from longbench.text.splitters import SPLITTERS, get_splitter, split_default, split_longalign

__all__ = ["SPLITTERS", "get_splitter", "split_default", "split_longalign"]

"""The CLIP BPE tokenizer, built offline from the merges file that open_clip ships.

SD-1.x, CLIP ViT-L/14 and Denscore all use this vocabulary (49,408 tokens; start 49406, end 49407;
padding with the end token, 77 positions). ``vocab.json``/``merges.txt`` are derived from open_clip's
``bpe_simple_vocab_16e6.txt.gz`` exactly as OpenAI's tokenizer builds its vocabulary, written once to a
user cache directory (atomically), and loaded with transformers' ``CLIPTokenizer``.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MODEL_MAX_LENGTH = 77
_N_MERGES = 49152 - 256 - 2


def cache_root() -> Path:
    """Where longbench keeps derived files (``$XDG_CACHE_HOME/longbench`` or ``~/.cache/longbench``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "longbench"


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _bpe_file() -> Path:
    import open_clip

    return Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"


def build_tokenizer_files(out_dir: Path) -> Path:
    """Write vocab.json, merges.txt and the tokenizer config for the CLIP tokenizer into ``out_dir``."""
    with gzip.open(_bpe_file(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(m.split()) for m in lines[1:_N_MERGES + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab.extend("".join(m) for m in merges)
    vocab.extend(["<|startoftext|>", "<|endoftext|>"])
    files = {
        "vocab.json": json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False),
        "merges.txt": "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n",
        "special_tokens_map.json": json.dumps({
            "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}),
        "tokenizer_config.json": json.dumps({
            "tokenizer_class": "CLIPTokenizer", "model_max_length": MODEL_MAX_LENGTH,
            "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "do_lower_case": True}),
    }
    # imported here, not at module level: longbench.results reads the bucket labels from this module
    from longbench.fileio import atomic_write_text

    for name, text in files.items():
        atomic_write_text(out_dir / name, text)
    return out_dir


def tokenizer_dir() -> Path:
    """The directory holding the derived tokenizer files, built on first use."""
    d = cache_root() / "clip-tokenizer"
    if not (d / "tokenizer_config.json").exists():
        build_tokenizer_files(d)
    return d


def load_clip_tokenizer() -> PreTrainedTokenizerBase:
    """The SD-1.5 / CLIP ViT-L tokenizer, offline. Callers keep the instance (no global cache)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(tokenizer_dir()))


class TokenCounter:
    """Counts CLIP content tokens (start/end tokens excluded) of texts."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase | None = None):
        self.tokenizer = tokenizer or load_clip_tokenizer()

    def __call__(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def many(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        ids = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [len(x) for x in ids]

    def length(self, text: str) -> int:
        """Sequence length as CLIP sees it untruncated: content tokens + start + end."""
        return self(text) + 2


#: the prompt-length buckets (CLIP tokens with start and end, inclusive ranges): the one list of bucket labels
LENGTH_BUCKETS = ((0, 77, "<=77"), (78, 154, "78-154"), (155, 240, "155-240"), (241, 10**9, ">240"))
BUCKET_LABELS: tuple[str, ...] = tuple(label for _, _, label in LENGTH_BUCKETS)


def length_bucket(n_tokens: int) -> str:
    """Bucket label of a prompt whose CLIP length (with start/end tokens) is ``n_tokens``."""
    for lo, hi, label in LENGTH_BUCKETS:
        if lo <= n_tokens <= hi:
            return label
    raise ValueError(n_tokens)


def prompt_buckets(prompts: Sequence[str], counter: TokenCounter | None = None) -> list[tuple[int, str]]:
    """``(CLIP length with start/end tokens, length bucket)`` of each prompt, tokenized in one batch."""
    counts = (counter or TokenCounter()).many(list(prompts))
    return [(n + 2, length_bucket(n + 2)) for n in counts]


@dataclass(frozen=True)
class PromptLengths:
    """The CLIP length (start/end tokens included) and length bucket of every prompt of a run, by item id.

    The runner computes it once per run and hands it to the metrics (``MetricContext.lengths``) and to
    the results, so every per-bucket number of a run uses the same buckets."""

    tokens: Mapping[str, int]
    buckets: Mapping[str, str]

    @classmethod
    def of(cls, items: Sequence[Any], counter: TokenCounter | None = None) -> PromptLengths:
        """Lengths of suite items (anything with ``id`` and ``prompt``)."""
        pairs = prompt_buckets([it.prompt for it in items], counter)
        return cls({it.id: n for it, (n, _) in zip(items, pairs)}, {it.id: b for it, (_, b) in zip(items, pairs)})

    def bucket(self, item_id: str) -> str:
        """The length bucket of an item of the run.

        Raises:
            LongbenchError: ``item_id`` is not an item of the run.
        """
        try:
            return self.buckets[item_id]
        except KeyError:
            raise LongbenchError(f"item {item_id!r} is not among the prompts of this run") from None


def load_clip_tokenizer_fast() -> PreTrainedTokenizerBase:
    """The same CLIP tokenizer as ``load_clip_tokenizer``, as the Rust ``CLIPTokenizerFast`` (character
    offsets of tokens). Callers keep the instance (no global cache)."""
    from transformers import CLIPTokenizerFast

    return CLIPTokenizerFast.from_pretrained(str(tokenizer_dir()))


def window_end_chars(texts: list[str], window: int = MODEL_MAX_LENGTH,
                     counter: TokenCounter | None = None) -> tuple[list[int], list[int | None]]:
    """Content-token counts of ``texts`` and where CLIP's ``window``-position context ends in each.

    The window holds the start token, ``window - 2`` content tokens and the end token; the end is the
    character offset where the first content token that does not fit begins (None when the whole text
    fits). Offsets need a fast (Rust) tokenizer: ``counter``'s own when it is one (transformers 5), else the
    fast twin, whose token count is then checked against ``counter`` per text; a text where the two
    disagree is located with ``counter`` instead (at a word boundary).
    """
    if not texts:
        return [], []
    fit = window - 2
    counter = counter or TokenCounter()
    fast = counter.tokenizer if getattr(counter.tokenizer, "is_fast", False) else load_clip_tokenizer_fast()
    enc = fast(list(texts), add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False)
    counts = [len(ids) for ids in enc["input_ids"]]
    if fast is not counter.tokenizer:
        counts = counter.many(list(texts))
    ends: list[int | None] = []
    for text, ids, offsets, n in zip(texts, enc["input_ids"], enc["offset_mapping"], counts):
        if n <= fit:
            ends.append(None)
        elif len(ids) == n:
            ends.append(int(offsets[fit][0]))
        else:
            ends.append(_window_end_slow(text, fit, counter))
    return counts, ends


def _window_end_slow(text: str, fit: int, counter: TokenCounter) -> int:
    """Start of the first word whose end lies beyond ``fit`` content tokens (binary search over word starts;
    CLIP never merges tokens across whitespace, so a prefix ending at a word start tokenizes as in the text)."""
    import re

    starts = [m.start() for m in re.finditer(r"\S+", text)]
    lo, hi = 0, len(starts)  # invariant: the prefix before starts[lo] fits; before starts[hi] (or the end) not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if counter(text[:starts[mid]]) <= fit:
            lo = mid
        else:
            hi = mid
    return starts[lo]

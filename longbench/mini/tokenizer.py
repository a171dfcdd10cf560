"""The compact CLIP tokenizer of the miniature world: the CLIP BPE restricted to the world's words.

The full CLIP vocabulary has 49,408 tokens; a text tower of width 128 spends 6.3 M parameters on its
embedding table alone, more than the rest of a miniature CLIP. The world uses a few hundred of those
tokens. This tokenizer keeps

* every byte-level symbol of the BPE, bare and word-final (``x</w>``): 512 entries, so every text
  tokenizes (no unknown token);
* the merges that fire while the full CLIP BPE tokenizes the world's words (its grammar tables and a
  sample of prompts and short captions), in their original rank order, and the token each one makes;
* the start and end tokens.

BPE applies, at each step, the best-ranked merge among the pairs present. For a word of the world every
merge the full BPE applies is kept, and it is the best-ranked among the kept ones too, so the word splits
into exactly the same pieces: token *positions* (and so per-fact visibility through a 77-position
window) equal the full tokenizer's; only the ids are renumbered. Words outside the world may split into
more pieces than with the full vocabulary. The files are a plain ``vocab.json``/``merges.txt`` pair that
transformers' ``CLIPTokenizer`` (and diffusers pipelines) load as they load SD-1.5's.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from longbench.fileio import atomic_write_text
from longbench.text.tokenizer import _N_MERGES, MODEL_MAX_LENGTH, _bpe_file, _bytes_to_unicode

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
#: Training items whose prompts join the grammar tables as the source of the world's words.
SAMPLE_SEED, SAMPLE_SIZE = 1, 1000
#: constants of the world and grammar modules that no prompt writes (the layout names): left out, so the
#: vocabulary stays the one the shipped zoo was trained with (mini-v1's prompts use mini-v0's words)
_NOT_WRITTEN = frozenset({"LAYOUTS"})
#: Written next to vocab.json: what the vocabulary was built from.
INFO_FILE = "mini_tokenizer.json"


def full_merges() -> list[tuple[str, str]]:
    """The merges of the full CLIP BPE, best rank first (open_clip's bundled file)."""
    import gzip

    with gzip.open(_bpe_file(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    return [tuple(m.split()) for m in lines[1:_N_MERGES + 1]]  # type: ignore[misc]


def bpe(word: str, ranks: dict[tuple[str, str], int]) -> tuple[list[str], list[tuple[str, str]]]:
    """Byte-level BPE of one pre-tokenized ``word`` (already mapped to BPE unicode, without ``</w>``):
    its pieces and the merges that fired, in order."""
    symbols = list(word)
    symbols[-1] += "</w>"
    fired: list[tuple[str, str]] = []
    while len(symbols) > 1:
        pairs = set(itertools.pairwise(symbols))
        best = min(pairs, key=lambda p: ranks.get(p, len(ranks)))
        if best not in ranks:
            break
        fired.append(best)
        merged, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols, fired


def words_of(texts: Iterable[str], tokenizer: PreTrainedTokenizerBase) -> set[str]:
    """The pre-tokenized words of ``texts`` as the CLIP tokenizer sees them (BPE unicode, no ``</w>``):
    consecutive pieces up to one ending in ``</w>`` (CLIP never merges across a word boundary)."""
    words: set[str] = set()
    for text in texts:
        current = ""
        for piece in tokenizer.tokenize(text):
            current += piece
            if piece.endswith("</w>"):
                words.add(current[:-4])
                current = ""
        if current:
            raise ValueError(f"piece without end of word in {text!r}")
    return words


def world_texts(sample_size: int = SAMPLE_SIZE, sample_seed: int = SAMPLE_SEED) -> list[str]:
    """Texts the world writes: every string of its grammar and vocabulary tables, ``mini-v0``'s prompts,
    a sample of training prompts and the short captions of all of their scenes."""
    from longbench.mini import grammar, world
    from longbench.mini.captions import short_caption
    from longbench.mini.suite import mini_v0, train_items
    from longbench.mini.views import item_scene

    texts: list[str] = []

    def strings(value: object) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                strings(k)
                strings(v)
        elif isinstance(value, (tuple, list, set, frozenset)):
            for v in value:
                strings(v)

    for module in (world, grammar):
        for name, value in sorted(vars(module).items()):
            if name.isupper() and name not in _NOT_WRITTEN:
                strings(value)
    items = list(mini_v0().items) + train_items(sample_size, sample_seed)
    texts.extend(it.prompt for it in items)
    texts.extend(short_caption(item_scene(it)) for it in items)
    return texts


def compact_vocabulary(texts: Sequence[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) of the compact tokenizer for ``texts`` (module docstring)."""
    from longbench.text.tokenizer import load_clip_tokenizer

    full = load_clip_tokenizer()
    merges = full_merges()
    ranks = {m: i for i, m in enumerate(merges)}
    kept: set[tuple[str, str]] = set()
    for word in sorted(words_of(texts, full)):
        kept.update(bpe(word, ranks)[1])
    order = sorted(kept, key=ranks.__getitem__)
    symbols = list(_bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in order] + [BOS, EOS]
    return {tok: i for i, tok in enumerate(vocab_list)}, order


def build_mini_tokenizer(out_dir: str | Path, sample_size: int = SAMPLE_SIZE,
                         sample_seed: int = SAMPLE_SEED) -> Path:
    """Write the compact tokenizer (vocab.json, merges.txt, tokenizer and special-token configs, and
    ``mini_tokenizer.json`` describing its source) into ``out_dir``."""
    from longbench.text.tokenizer import load_clip_tokenizer

    out = Path(out_dir)
    texts = world_texts(sample_size, sample_seed)
    vocab, merges = compact_vocabulary(texts)
    vocab_text = json.dumps(vocab, ensure_ascii=False)
    files = {
        "vocab.json": vocab_text,
        "merges.txt": "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n",
        "special_tokens_map.json": json.dumps({"bos_token": BOS, "eos_token": EOS, "unk_token": EOS,
                                               "pad_token": EOS}),
        "tokenizer_config.json": json.dumps({
            "tokenizer_class": "CLIPTokenizer", "model_max_length": MODEL_MAX_LENGTH, "bos_token": BOS,
            "eos_token": EOS, "unk_token": EOS, "pad_token": EOS, "do_lower_case": True}),
        INFO_FILE: json.dumps({"kind": "mini-compact-clip-bpe", "vocab_size": len(vocab), "merges": len(merges),
                               "sample_seed": sample_seed, "sample_size": sample_size,
                               "vocab_sha256": hashlib.sha256(vocab_text.encode()).hexdigest()}, indent=2) + "\n",
    }
    for name, text in files.items():
        atomic_write_text(out / name, text)
    # the same pieces as SD's tokenizer on every text the vocabulary was built from (module docstring)
    full, compact = load_clip_tokenizer(), load_mini_tokenizer(out)
    for text in texts:
        if compact.tokenize(text) != full.tokenize(text):
            raise AssertionError(f"compact tokenizer splits {text!r} differently from the CLIP tokenizer")
    return out


def load_mini_tokenizer(directory: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer written by :func:`build_mini_tokenizer` (a transformers ``CLIPTokenizer``)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(directory))


def write_vocab_files(tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> None:
    """Write ``vocab.json`` and ``merges.txt`` of a CLIP BPE tokenizer into ``out_dir`` (beside what
    ``save_pretrained`` wrote): transformers 5 saves only ``tokenizer.json``, which older transformers'
    slow ``CLIPTokenizer`` cannot read."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    model = json.loads(backend.to_str())["model"] if backend is not None else None
    if model is None or model.get("type") != "BPE":
        raise ValueError(f"{type(tokenizer).__name__} is not a BPE tokenizer with a tokenizers backend")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    out = Path(out_dir)
    atomic_write_text(out / "vocab.json", json.dumps(tokenizer.get_vocab(), ensure_ascii=False))
    atomic_write_text(out / "merges.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")

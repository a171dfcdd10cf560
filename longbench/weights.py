"""Resolve model weights offline: a local directory/file, or a Hugging Face id already in the HF cache.

Nothing here downloads. A missing checkpoint raises MissingWeightsError with one line saying which
weights, where they were looked for, and how to provide them. A checkpoint that does not fill its model
exactly (missing, unexpected or mismatched tensors) is refused by the strict loaders at the end of this
module instead of being completed with random weights.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError, MissingWeightsError


def hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def resolve(spec: str, what: str = "weights", filename: str | None = None, revision: str | None = None) -> Path:
    """Return a local path for ``spec`` (a directory, a file, or a Hugging Face repo id).

    With ``filename`` the file inside the directory/repo is returned; ``revision`` (a commit, branch or tag
    already in the HF cache) applies to repo ids only.
    """
    p = Path(spec).expanduser()
    if p.exists():
        if revision is not None:
            raise MissingWeightsError(f"{what}: revision {revision!r} applies to Hugging Face ids, not the local "
                                      f"path {spec!r}")
        if filename is None:
            return p
        if (p / filename).exists():
            return p / filename
        raise MissingWeightsError(f"{what}: {p} has no file {filename!r}")
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise MissingWeightsError(f"{what}: path {spec!r} does not exist")
    try:
        if filename is None:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(spec, revision=revision, local_files_only=True))
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(spec, filename, revision=revision, local_files_only=True))
    except Exception as e:  # LocalEntryNotFoundError, RepositoryNotFoundError, offline errors, ...
        rev = f" at revision {revision!r}" if revision else ""
        raise MissingWeightsError(
            f"{what} {spec!r}{' file ' + repr(filename) if filename else ''}{rev} not found offline: not a local path "
            f"and not in the Hugging Face cache {hf_cache_dir()} ({type(e).__name__}); on a machine with network "
            f"run `hf download {spec}` and copy the cache here, or pass a local directory"
        ) from None


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")


def weights_identity(path: str | os.PathLike) -> dict[str, Any]:
    """What identifies a resolved weights directory: the Hugging Face commit when it is a snapshot of the HF
    cache, and the sha256 of every weight file (relative name → hex digest).

    Files of the HF cache are links to blobs named by their sha256 (for files stored with git LFS, which
    weights are), so their digest is read from the link; other files are hashed.
    """
    root = Path(path)
    files = [root] if root.is_file() else sorted(q for q in root.rglob("*") if q.is_file()
                                                  and q.name.endswith(WEIGHT_SUFFIXES))
    digests: dict[str, str] = {}
    for q in files:
        target = Path(os.path.realpath(q)).name
        digests[q.name if q == root else q.relative_to(root).as_posix()] = (
            target if re.fullmatch(r"[0-9a-f]{64}", target) else file_sha256(q))
    snapshot = root if root.is_dir() else root.parent
    commit = snapshot.name if snapshot.parent.name == "snapshots" and re.fullmatch(r"[0-9a-f]{40}", snapshot.name) \
        else None
    return {"revision": commit, "weights_sha256": digests}


def dir_fingerprint(path: str | os.PathLike) -> str:
    """A cheap identity of a weights directory: sha256 over (relative path, size, mtime_ns) of its files."""
    root = Path(path)
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(q for q in root.rglob("*") if q.is_file())
    for q in files:
        st = q.stat()
        h.update(f"{q.relative_to(root) if q != root else q.name}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------- strict loading
def check_loaded_keys(what: str, weights: str | os.PathLike, *, missing: Any = (), unexpected: Any = (),
                      mismatched: Any = ()) -> None:
    """Refuse a checkpoint that does not fill the model exactly.

    A learned metric or detector whose checkpoint lacks some tensors would run with random ones there
    (and report plausible-looking numbers): missing, unexpected and shape-mismatched keys are a one-line
    LongbenchError naming the weights and the first keys of each kind with their count.

    Args:
        what: the role of the weights in messages (e.g. ``"denscore model"``).
        weights: the checkpoint (path or id) as the user gave it or as it was resolved.
        missing: state-dict keys the model has and the checkpoint lacks.
        unexpected: keys the checkpoint has and the model does not use.
        mismatched: keys (or ``(key, ...)`` tuples, as transformers reports them) whose shapes differ.
    """
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", mismatched)):
        names = sorted({str(k[0] if isinstance(k, (tuple, list)) else k) for k in (keys or ())})
        if names:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            problems.append(f"{len(names)} {label} key{'s' if len(names) > 1 else ''} ({shown})")
    if problems:
        raise LongbenchError(f"{what} {weights}: the checkpoint does not match the model: {'; '.join(problems)}; "
                             "refusing to run with randomly initialised weights")


def check_lora_loaded(model: Any, given: set[str], adapter: str, *, what: str, weights: str | os.PathLike) -> None:
    """Refuse a LoRA that did not fill the adapter it was loaded into (``load_lora_adapter`` only logs it).

    A file missing some ``lora_B`` tensors would leave those layers at peft's initialisation, i.e. a model
    other than the trained one, without a word. ``given``: the file's keys without the model prefix
    (``down_blocks.0...to_q.lora_A.weight``); the model's adapter parameters are named
    ``...to_q.lora_A.<adapter>.weight``.
    """
    tag = f".{adapter}."
    loaded = {name.replace(tag, ".") for name, _ in model.named_parameters() if tag in name}
    check_loaded_keys(what, weights, missing=loaded - given, unexpected=given - loaded)


def from_pretrained_strict(cls: Any, path: str | os.PathLike, *, what: str, unexpected_ok: bool = False,
                           **kwargs: Any) -> Any:
    """``cls.from_pretrained(path, output_loading_info=True, **kwargs)`` (transformers or diffusers), with
    missing, unexpected or mismatched keys turned into a LongbenchError (:func:`check_loaded_keys`).

    ``unexpected_ok``: a checkpoint of a larger model is fine (a ``CLIPTextModel`` taken from a ``CLIPModel``
    directory); missing and mismatched keys are still refused.

    Keys a model class declares optional (``_keys_to_ignore_on_load_*``, non-persistent buffers such as
    old checkpoints' ``position_ids``) are already left out of the loading info by the library.
    """
    # Mismatched shapes are let through to the loading info so that the error can name them (the model
    # with re-initialised tensors is discarded right below).
    kwargs.setdefault("ignore_mismatched_sizes", True)
    try:
        model, info = cls.from_pretrained(str(path), output_loading_info=True, **kwargs)
    except RuntimeError as e:  # older versions raise on shape mismatches whatever the flag
        if "mismatch" not in str(e).lower():
            raise
        first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise LongbenchError(f"{what} {path}: the checkpoint does not match the model ({first})") from None
    check_loaded_keys(what, path, missing=info.get("missing_keys"),
                      unexpected=() if unexpected_ok else info.get("unexpected_keys"),
                      mismatched=info.get("mismatched_keys"))
    errors = [str(m).splitlines()[0] for m in info.get("error_msgs") or () if str(m).strip()]
    if errors:
        raise LongbenchError(f"{what} {path}: the checkpoint does not load ({errors[0]})")
    return model


def pipeline_strict(path: str | os.PathLike, *, what: str, dtype: Any = None, **kwargs: Any) -> Any:
    """``DiffusionPipeline.from_pretrained(path)`` with every model component (UNet, VAE, text encoders...)
    loaded by :func:`from_pretrained_strict` first, so a partial component checkpoint is a one-line error
    naming the component instead of random weights; tokenizers, schedulers and components of other
    libraries are loaded by diffusers as usual.

    Args:
        path: local pipeline directory (with ``model_index.json``).
        what: the pipeline's role in messages.
        dtype: torch dtype of the weights (None: as saved).
        kwargs: passed to ``DiffusionPipeline.from_pretrained`` (e.g. ``local_files_only``).
    """
    import importlib
    import json

    import transformers
    from diffusers import DiffusionPipeline, ModelMixin
    from transformers import PreTrainedModel

    root = Path(path)
    try:
        index = json.loads((root / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}  # diffusers reports the missing or bad index itself
    # transformers renamed torch_dtype to dtype in 4.56; diffusers in 0.35
    tf_dtype = {} if dtype is None else (
        {"dtype": dtype} if tuple(int(x) for x in transformers.__version__.split(".")[:2]) >= (4, 56)
        else {"torch_dtype": dtype})
    components: dict[str, Any] = {}
    for name, spec in (index.items() if isinstance(index, dict) else ()):
        if name.startswith("_") or not (isinstance(spec, list) and len(spec) == 2 and all(spec)):
            continue
        try:
            cls = getattr(importlib.import_module(spec[0]), spec[1])
        except (ImportError, AttributeError, TypeError):
            continue  # a pipeline-specific class (e.g. the safety checker): diffusers resolves it
        if not (root / name).is_dir() or not isinstance(cls, type):
            continue
        if issubclass(cls, PreTrainedModel):
            components[name] = from_pretrained_strict(cls, root / name, what=f"{what} {name}",
                                                      local_files_only=True, **tf_dtype)
        elif issubclass(cls, ModelMixin):
            components[name] = from_pretrained_strict(cls, root / name, what=f"{what} {name}",
                                                      local_files_only=True,
                                                      **({} if dtype is None else diffusers_dtype_kwarg(dtype)))
    dtype_kw = {} if dtype is None else diffusers_dtype_kwarg(dtype)
    return DiffusionPipeline.from_pretrained(str(root), **components, **dtype_kw, **kwargs)


def diffusers_dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """diffusers' ``from_pretrained`` dtype keyword: ``dtype`` since it was renamed, else ``torch_dtype``."""
    from diffusers.utils import deprecation_utils

    return {"dtype": dtype} if hasattr(deprecation_utils, "_resolve_dtype") else {"torch_dtype": dtype}


def checked_load(load: Any, *, what: str, weights: str | os.PathLike) -> Any:
    """Run ``load()``, a non-strict ``load_state_dict``-style call whose result has ``missing_keys`` and
    ``unexpected_keys`` (torch, open_clip's ``load_checkpoint``), and refuse any key it reports, and any
    shape mismatch torch raises, with a one-line LongbenchError (:func:`check_loaded_keys`) instead of
    torch's multi-line RuntimeError. Returns ``load()``'s result."""
    try:
        result = load()
    except RuntimeError as e:  # shapes that differ raise even when strict=False
        names = sorted(set(re.findall(r"size mismatch for ([^:\s]+):", str(e))))
        if not names:
            raise
        check_loaded_keys(what, weights, mismatched=names)
        raise  # unreachable: check_loaded_keys raised
    check_loaded_keys(what, weights, missing=getattr(result, "missing_keys", ()),
                      unexpected=getattr(result, "unexpected_keys", ()))
    return result


def load_state_dict_strict(module: Any, state_dict: dict[str, Any], *, what: str,
                           weights: str | os.PathLike) -> None:
    """``module.load_state_dict(state_dict)`` with every missing, unexpected or mismatched key reported by
    name in a one-line LongbenchError."""
    checked_load(lambda: module.load_state_dict(state_dict, strict=False), what=what, weights=weights)

"""``longbench train mini-ship``: package a miniature reproduction as the shipped zoo (``longbench/mini/weights``).

Input: the output directory of ``longbench train mini-reproduce`` (``REPRO/<name>/final/`` per model and
``REPRO/manifest.json``). Output (``--to``, default the package's :data:`longbench.mini.zoo.ZOO_DIR`): one
directory per zoo model present (``<to>/<name>/``, the names of :data:`longbench.mini.zoo.NAMES`) and
``<to>/manifest.json``. Every floating-point tensor is stored as float16 (the issue's 25 MB budget: the fp32
zoo is about 56 MB); the loaders read it back into the model's float32. A generator trained on another zoo
generator (the reward models on ``longsd``) stores the parent's LoRA and its own stacked along the rank axis; the
zoo keeps only its own slice (``lora_delta/pytorch_lora_weights.safetensors``, manifest ``lora_parent``), checked to be
exact, and the loaders stack the two back (``longbench.longsd.lora.read_lora``). The longSD checkpoints (the
generators) name their base ``mini:base`` instead of a path of the training machine, and their base probe
(:func:`longbench.longsd.checkpoint.check_base`) is taken again on the shipped, fp16-rounded base.

The whole zoo is built under a temporary name and swapped into place: a refused or failed shipment leaves the
previous zoo as it was.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from longbench.errors import LongbenchError
from longbench.results import dumps

SHIP_FORMAT = "longbench-mini-zoo"
SHIP_FORMAT_VERSION = 1
#: the issue's budget for the shipped weights, all files together (bytes)
MAX_BYTES = 25_000_000
#: what a shipped longSD checkpoint names as its base (resolved by ``longbench.mini.zoo.resolve_weights``)
BASE_SPEC = "mini:base"


def _fp16_safetensors(src: Path, dst: Path) -> None:
    """Copy a safetensors file with every floating tensor as float16 (metadata kept)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    with safe_open(str(src), framework="pt") as f:
        metadata = f.metadata()
        for key in f.keys():  # noqa: SIM118 - safe_open is not iterable
            t = f.get_tensor(key)
            if t.is_floating_point() and t.dtype != torch.float16:
                half = t.to(torch.float16)
                if not torch.isfinite(half).all() and torch.isfinite(t).all():
                    raise LongbenchError(f"{src}: tensor {key!r} overflows float16 (max |x| "
                                         f"{float(t.abs().max()):.3g}); it cannot be shipped in half precision")
                t = half
            tensors[key] = t.contiguous()
    save_file(tensors, str(dst), metadata=metadata)


def _check_files(name: str, final: Path, entry: dict[str, Any]) -> dict[str, str]:
    """The files of ``final`` listed in the reproduction manifest, checked to exist with their sha256."""
    from longbench.weights import file_sha256

    files = entry.get("files")
    if not isinstance(files, dict) or not files:
        raise LongbenchError(f"--from: model {name!r} lists no files in manifest.json")
    for rel, sha in files.items():
        p = final / rel
        if not p.is_file():
            raise LongbenchError(f"--from: model {name!r} is missing {p} (listed in manifest.json)")
        if file_sha256(p) != sha:
            raise LongbenchError(f"--from: {p} differs from its sha256 in manifest.json (changed after training)")
    return files


def _base_probe(base_dir: Path) -> dict[str, Any]:
    """The base probe of the shipped (fp16-rounded) base, loaded as the loaders load it (float32)."""
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    from longbench.longsd.checkpoint import base_probe

    unet = UNet2DConditionModel.from_pretrained(str(base_dir / "unet"), torch_dtype=torch.float32,
                                                local_files_only=True)
    text = CLIPTextModel.from_pretrained(str(base_dir / "text_encoder"), dtype=torch.float32, local_files_only=True)
    return base_probe(unet, text)


class _Parent(NamedTuple):
    name: str  # the parent's zoo name
    rank: int  # its LoRA rank: the leading ranks of the child's
    own: dict[str, Any]  # the child's LoRA without them


def _ship_checkpoint_manifest(src: Path, dst: Path, probe: dict[str, Any], repro: Path,
                              parent: _Parent | None) -> None:
    """A longSD checkpoint manifest whose base is ``mini:base`` (probed on the shipped base), whose lineage
    names zoo models rather than directories of the training machine, and, for a delta, its ``lora_parent``."""
    m = json.loads(src.read_text(encoding="utf-8"))
    if m.get("format") != "longsd":
        raise LongbenchError(f"--from: {src} is not a longSD checkpoint manifest")
    m["base"] = {**m["base"], "spec": BASE_SPEC, "path": BASE_SPEC, "probe": probe}
    finals = {str((repro / n / "final").resolve()): f"mini:{n}" for n in _zoo_names()}
    for step in m.get("lineage") or []:
        path = step.get("path")
        if path and str(Path(path).resolve()) in finals:
            step["path"] = finals[str(Path(path).resolve())]
    if parent:
        m["lora_parent"], m["lora_parent_rank"] = f"mini:{parent.name}", parent.rank
    dst.write_text(dumps(m), encoding="utf-8")


def _strict_json_copy(src: Path, dst: Path) -> None:
    """A model manifest as strict JSON: a non-finite number (a check column of a kind the layout never states,
    written as ``NaN`` by trainings before ``reader_scores`` said None) becomes null."""
    dst.write_text(dumps(json.loads(src.read_text(encoding="utf-8"))), encoding="utf-8")


def _lora_parent(name: str, repro: Path, present: list[str]) -> _Parent | None:
    """The parent of a generator trained on another zoo generator that ships too (its lineage's last step): the
    parent's LoRA must be exactly the leading rank slice of ``name``'s, and only the rest ships. None for a
    generator trained on the base."""
    import torch

    from longbench.longsd.lora import lora_rank_summary, read_lora, split_lora
    from longbench.mini import zoo

    m = json.loads((repro / name / "final" / "manifest.json").read_text(encoding="utf-8"))
    lineage = m.get("lineage") or []
    finals = {(repro / n / "final").resolve(): n for n in present if n in zoo.GENERATORS and n != name}
    parent = finals.get(Path(lineage[-1]["path"]).resolve()) if lineage and lineage[-1].get("path") else None
    if parent is None:
        return None
    base = read_lora(repro / parent / "final")
    ranks = lora_rank_summary(base)["ranks"]
    if len(ranks) != 1:
        raise LongbenchError(f"--from: {parent}'s LoRA has ranks {ranks}; a parent must have one rank")
    head, own = split_lora(read_lora(repro / name / "final"), ranks[0])
    for k, t in base.items():
        if k not in head or not torch.equal(head[k], t):
            raise LongbenchError(f"--from: {name}'s LoRA does not start with its parent {parent}'s ({k}); it cannot "
                                 "ship as a delta")
    return _Parent(parent, ranks[0], own)


def _ship_delta(own: dict[str, Any], dst: Path) -> None:
    """Write a LoRA slice as float16 safetensors (peft keys with the ``unet.`` prefix)."""
    import torch
    from safetensors.torch import save_file

    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file({f"unet.{k}": t.to(torch.float16).contiguous() for k, t in own.items()}, str(dst),
              metadata={"format": "pt"})


def _zoo_names() -> tuple[str, ...]:
    from longbench.mini import zoo

    return zoo.NAMES


def ship(repro: str | Path, to: str | Path | None = None, echo: Callable[[str], None] | None = None) -> Path:
    """Ship the zoo models of reproduction ``repro`` into ``to`` (default: the package zoo); return the path of
    the zoo's ``manifest.json``.

    Raises:
        LongbenchError: ``repro`` is not a reproduction, a model's files are missing or changed, a generator
            lacks its base, ``to`` holds something else than a zoo, or the zoo exceeds :data:`MAX_BYTES`.
    """
    import longbench
    from longalign.mini_reproduce import MANIFEST_FORMAT
    from longbench import jsonio
    from longbench.fileio import atomic_dir, check_writable
    from longbench.longsd.checkpoint import LORA_DELTA_NAME, LORA_WEIGHT_NAME
    from longbench.mini import zoo
    from longbench.weights import file_sha256

    repro = Path(repro).expanduser()
    target = Path(to).expanduser() if to else zoo.ZOO_DIR
    src_manifest = repro / "manifest.json"
    if not src_manifest.is_file():
        raise LongbenchError(f"--from {repro}: no manifest.json (expected the --out of `longbench train "
                             "mini-reproduce`)")
    source = jsonio.read_json(src_manifest)
    if not isinstance(source, dict) or source.get("format") != MANIFEST_FORMAT:
        raise LongbenchError(f"--from {src_manifest}: not a mini-reproduce manifest")
    present = [n for n in zoo.NAMES if (repro / n / "final").is_dir()]
    if not present:
        raise LongbenchError(f"--from {repro}: no zoo model ({', '.join(zoo.NAMES)}) has a final/ directory")
    generators = [n for n in present if n in zoo.GENERATORS]
    if generators and zoo.BASE not in present:
        raise LongbenchError(f"--from {repro}: {', '.join(generators)} need the base pipeline, and base/final is "
                             "missing")
    entries = source.get("models") or {}
    files: dict[str, dict[str, str]] = {}
    for name in present:
        if name not in entries:
            raise LongbenchError(f"--from {src_manifest}: model {name!r} has a final/ directory but no entry")
        files[name] = _check_files(name, repro / name / "final", entries[name])
    check_writable(target, "--to", directory=True)
    if target.is_dir() and any(target.iterdir()):
        previous = target / "manifest.json"
        try:
            fmt = jsonio.read_json(previous).get("format") if previous.is_file() else None
        except (LongbenchError, AttributeError):
            fmt = None
        if fmt != SHIP_FORMAT:
            raise LongbenchError(f"--to {target}: not empty and not a shipped zoo (no {SHIP_FORMAT} manifest.json); "
                                 "choose another directory")

    models: dict[str, Any] = {}
    with atomic_dir(target) as tmp:
        probe: dict[str, Any] | None = None
        for name in sorted(present, key=lambda n: n != zoo.BASE):  # base first: the generators are probed on it
            if echo:
                echo(f"mini-ship: {name}")
            final, out = repro / name / "final", tmp / name
            parent = _lora_parent(name, repro, present) if name in zoo.GENERATORS else None
            for rel in files[name]:
                src, dst = final / rel, out / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if parent and rel == LORA_WEIGHT_NAME:
                    _ship_delta(parent.own, out / LORA_DELTA_NAME)
                elif src.suffix == ".safetensors":
                    _fp16_safetensors(src, dst)
                elif name in zoo.GENERATORS and rel == "manifest.json":
                    probe = probe if probe is not None else _base_probe(tmp / zoo.BASE)
                    _ship_checkpoint_manifest(src, dst, probe, repro, parent)
                elif rel == "manifest.json":
                    _strict_json_copy(src, dst)
                else:
                    shutil.copyfile(src, dst)
            shipped = {p.relative_to(out).as_posix(): {"sha256": file_sha256(p), "bytes": p.stat().st_size}
                       for p in sorted(out.rglob("*")) if p.is_file()}
            e = entries[name]
            models[name] = {
                "stage": e.get("stage"), "config": e.get("config"), "config_sha256": e.get("config_sha256"),
                "overrides": e.get("overrides"), "data_seed": e.get("data_seed"), "train_seed": e.get("train_seed"),
                "steps": e.get("steps"), "wall_s": e.get("wall_s"), "check": e.get("check"),
                "files": shipped, "bytes": sum(f["bytes"] for f in shipped.values()),
            }
        total = sum(m["bytes"] for m in models.values())
        if total > MAX_BYTES:
            biggest = max(models, key=lambda n: models[n]["bytes"])
            raise LongbenchError(f"the zoo would take {total / 1e6:.2f} MB, over the {MAX_BYTES / 1e6:.2f} MB budget "
                                 f"(largest: {biggest}, {models[biggest]['bytes'] / 1e6:.2f} MB); nothing was written")
        manifest = {"format": SHIP_FORMAT, "format_version": SHIP_FORMAT_VERSION, "dtype": "float16",
                    "size": source.get("size"), "layout": source.get("layout", "free"),
                    "source_manifest_sha256": file_sha256(src_manifest),
                    "trained_with": source.get("longbench_version"), "longbench_version": longbench.__version__,
                    "total_bytes": total, "models": models}
        (tmp / "manifest.json").write_text(dumps(manifest), encoding="utf-8")
    return target / "manifest.json"

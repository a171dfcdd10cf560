"""``longbench doctor``: versions, device, and whether known weights resolve offline."""

from __future__ import annotations

from importlib import metadata


def report() -> None:
    from rich.console import Console
    from rich.table import Table

    from longbench.registry import METRICS, import_string

    console = Console()
    versions = Table(title="environment", title_justify="left")
    versions.add_column("package")
    versions.add_column("version")
    for pkg in ("longbench", "torch", "torchvision", "diffusers", "transformers", "torchmetrics", "open_clip_torch",
                "accelerate", "peft", "safetensors", "torch-fidelity"):
        try:
            versions.add_row(pkg, metadata.version(pkg))
        except metadata.PackageNotFoundError:
            versions.add_row(pkg, "[yellow]not installed[/yellow]")
    console.print(versions)

    import torch

    cuda = torch.cuda.is_available()
    console.print(f"device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if cuda else 'cpu only'}; "
                  f"torch threads {torch.get_num_threads()}")
    try:
        from longbench.text.tokenizer import load_clip_tokenizer, tokenizer_dir

        load_clip_tokenizer()
        console.print(f"CLIP tokenizer: [green]ok[/green] ({tokenizer_dir()})")
    except Exception as e:  # report, never crash the doctor
        console.print(f"CLIP tokenizer: [red]failed[/red] ({e})")

    console.print(f"miniature zoo (the offline default): {_zoo_status()}")

    weights = Table(title="metric weights (offline)", title_justify="left")
    for col in ("metric", "weights", "status"):
        weights.add_column(col, overflow="fold")
    for name in METRICS.names():
        try:
            declared = METRICS.declaration(name)
            if declared is not None and declared.weights is not None:  # no metric import (torchmetrics: seconds)
                entries = import_string(declared.weights)() if declared.weights else []
            else:
                entries = METRICS.get(name).weights_status()
        except Exception as e:
            weights.add_row(name, "-", f"[red]cannot check: {e}[/red]")
            continue
        if not entries:
            weights.add_row(name, "none needed", "[green]ok[/green]")
            continue
        for entry in entries:
            ok = entry["available"]
            weights.add_row(name, entry["spec"], "[green]found[/green]: " + entry.get("where", "") if ok
                            else "[red]missing[/red]: " + entry.get("where", ""))
    console.print(weights)


def _zoo_status() -> str:
    """Whether the shipped miniature zoo is complete: every file its manifest lists, with its size."""
    from longbench import jsonio
    from longbench.mini import zoo

    manifest = zoo.ZOO_DIR / "manifest.json"
    if not zoo.SHIPPED:
        return "not shipped in this build"
    try:
        models = jsonio.read_json(manifest)["models"]
        bad = [f"{name}/{rel}" for name, m in models.items() for rel, f in m["files"].items()
               if not (zoo.ZOO_DIR / name / rel).is_file() or (zoo.ZOO_DIR / name / rel).stat().st_size != f["bytes"]]
        split = zoo.suite_name()
    except Exception as e:  # report, never crash the doctor
        return f"[red]unreadable[/red] ({manifest}: {e})"
    if bad:
        return f"[red]incomplete[/red]: {len(bad)} file(s) missing or of another size, e.g. {bad[0]} ({zoo.ZOO_DIR})"
    total = sum(m["bytes"] for m in models.values())
    return (f"[green]ok[/green]: {len(models)} models, {total / 1e6:.2f} MB ({zoo.ZOO_DIR}); on {split} "
            "the learned metrics score with these weights (mini:clip, mini:denscore), not with the defaults below")

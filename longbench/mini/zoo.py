"""The miniature model zoo: where the trained miniature models live and how their names resolve.

A *zoo* is a directory with one sub-directory per model name, either as shipped (``<zoo>/<name>/``, the
package's ``longbench/mini/weights``) or as written by ``longbench train mini-reproduce``
(``<zoo>/<name>/final/``); both layouts resolve the same way, so every consumer (the ``mini:`` model specs,
the metrics' ``mini:clip`` / ``mini:denscore`` weights, ``meta-eval``, the reproduction report) can point at
the shipped weights or at a fresh reproduction.
"""

from __future__ import annotations

from pathlib import Path

from longbench.errors import LongbenchError
from longbench.mini.world import LAYOUTS

#: the shipped zoo (package data)
ZOO_DIR = Path(__file__).resolve().parent / "weights"
#: the metric backbones: mini-clip (clipscore, segment-align, FID features) and mini-denscore
SCORERS = ("clip", "denscore")
#: the shared diffusers pipeline every generator's LoRA applies to
BASE = "base"
#: the generators: align at 77 positions (sd), by segments at 240 (longsd), by naive concatenation
#: (naive: the paper's encoding ablation), and reward fine-tuning of longsd at omega 0, 0.3 and 1
GENERATORS = ("sd", "longsd", "naive", "reward-w0", "reward-w03", "reward-w1")
NAMES = SCORERS + (BASE,) + GENERATORS
#: whether the package ships the trained zoo: it switches ``longbench eval``'s offline default (no --suite)
#: and ``mini-v0``'s default metrics to the zoo (trained generators; learned metrics on the zoo's scorers)
SHIPPED = True
#: prefix of a weights spec naming a zoo model (``mini:clip``)
PREFIX = "mini:"
#: the zoo's manifest: a shipped zoo's (``mini-ship``) or a reproduction's (``mini-reproduce``); both record the
#: scene layout the models were trained on (no ``layout``: ``free``, the manifests before ``mini-v1``)
MANIFEST = "manifest.json"


def zoo_root(zoo: str | Path | None = None) -> Path:
    """The zoo directory: ``zoo`` when given, else the shipped one."""
    return Path(zoo).expanduser() if zoo else ZOO_DIR


def model_dir(name: str, zoo: str | Path | None = None) -> Path:
    """The directory of zoo model ``name`` (``<zoo>/<name>/final`` or ``<zoo>/<name>``)."""
    if name not in NAMES:
        raise LongbenchError(f"mini model {name!r}: expected one of {', '.join(NAMES)}")
    root = zoo_root(zoo)
    for candidate in (root / name / "final", root / name):
        if candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    where = "the shipped miniature weights" if zoo is None else f"zoo {root}"
    raise LongbenchError(f"mini model {name!r} is not in {where} ({root / name} does not exist); "
                         "train it with `longbench train mini-reproduce` (docs/mini.md)")


def is_zoo_spec(spec: object) -> bool:
    """Whether ``spec`` is a weights spec naming a zoo model (``mini:clip``, ``mini:denscore``, ...)."""
    return isinstance(spec, str) and spec.startswith(PREFIX) and spec[len(PREFIX):] in NAMES


def checkpoint_base(spec: str, checkpoint_dir: str | Path) -> str | None:
    """The base pipeline a zoo checkpoint names as ``mini:<name>`` (``longbench train mini-ship``): that model of the
    zoo the checkpoint sits in (``<zoo>/<model>`` or ``<zoo>/<model>/final``); None for any other spec."""
    if not is_zoo_spec(spec):
        return None
    d = Path(checkpoint_dir)
    return str(model_dir(spec[len(PREFIX):], d.parent.parent if d.name == "final" else d.parent))


def resolve_weights(spec: str, zoo: str | Path | None = None) -> str:
    """``mini:<name>`` → the path of that zoo model; any other spec unchanged."""
    if is_zoo_spec(spec):
        return str(model_dir(spec[len(PREFIX):], zoo))
    return spec


def layout(zoo: str | Path | None = None) -> str:
    """The scene layout the zoo's models were trained on (``free`` or ``homes``), from its manifest; ``free`` when
    the manifest has no ``layout`` (before ``mini-v1``) or the zoo has no manifest (assembled by hand: give the
    suite explicitly then)."""
    from longbench import jsonio

    path = zoo_root(zoo) / MANIFEST
    if not path.is_file():  # a zoo assembled by hand: no record, so the layout every manifest defaults to
        return "free"
    manifest = jsonio.read_json(path)
    found = manifest.get("layout", "free") if isinstance(manifest, dict) else None
    if found not in LAYOUTS:
        raise LongbenchError(f"{path}: layout {found!r} is not one of {', '.join(LAYOUTS)}")
    return found


def suite_name(zoo: str | Path | None = None) -> str:
    """The name of the test suite of the zoo's layout (``mini-v0`` for ``free``, ``mini-v1`` for ``homes``): the
    suite its generators and scorers are evaluated on by default."""
    from longbench.mini.suite import TEST_SPLITS

    return TEST_SPLITS[layout(zoo)].name

"""Training configuration: what every stage's config is, and loading one from YAML and ``--set`` overrides.

A stage declares its config class next to its code (``longalign/stages/<stage>.py``): a dataclass subclassing
:class:`StageConfig`, composed of the shared sections of ``longalign.sections`` (``model``, ``lora``,
``data``, ``optim``, ``train``) and the stage's own, with a ``check()`` that runs the sections' value checks
and the stage's own. Every hyperparameter lives in these classes and is written into the run directory and
the checkpoint manifest. Keys and values go through the library's one option mechanism
(``longbench.options``): unknown keys are errors that name the key (with a suggestion), values are checked
against the field types, then every number against its range by ``check()``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from longalign.sections import OptimSection, TrainSection
from longbench.errors import LongbenchError
from longbench.options import build_dataclass, dataclass_fields, deep_merge, parse_assignments

if TYPE_CHECKING:
    from longalign.stages.base import Stage


class StageConfig:
    """Base of every stage's config dataclass.

    A subclass is a ``@dataclass`` that declares its sections in the order they are written out; it must
    have ``optim`` and ``train`` (the training loop reads them). This base holds no fields, so each
    subclass keeps its own field order.
    """

    optim: OptimSection
    train: TrainSection
    #: config keys that may change when a run is resumed (they do not alter the trajectory)
    resumable_changes: ClassVar[tuple[str, ...]] = ("train.max_steps", "train.save_every", "train.state_every")

    def resolve(self) -> None:
        """Fill settings derived from others, so the resolved values are recorded (before ``check``)."""

    def check(self) -> None:
        """Value checks that need no files or models; raise ``LongbenchError`` naming the key."""
        self.train.check()
        self.optim.check(self.train.max_steps)

    def check_schedule(self, num_train_timesteps: int) -> None:
        """Checks against the base model's noise schedule, run as soon as it is known (before any step)."""


def stage_class(stage: str) -> type[Stage]:
    """The registered stage class of ``stage`` (see ``longalign.stages.STAGES``).

    Raises:
        LongbenchError: an unknown stage (with suggestions), or an entry that is not a stage with a config.
    """
    from longalign.stages import STAGES
    from longalign.stages.base import Stage

    cls = STAGES.get(stage)
    if not (isinstance(cls, type) and issubclass(cls, Stage) and isinstance(getattr(cls, "config_class", None), type)
            and issubclass(cls.config_class, StageConfig) and dataclasses.is_dataclass(cls.config_class)):
        raise LongbenchError(f"stage {stage!r}: {STAGES.target(stage)!r} is not a longalign Stage subclass with a "
                             "config_class (a StageConfig dataclass)")
    return cls


def _unique_key_loader() -> type:
    """A YAML SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last one silently,
    so a config could train with a value its author did not mean)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<``: merged keys may be overridden
                    continue
                key = self.construct_object(key_node, deep=deep)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise LongbenchError(f"line {line}: key {key!r} given twice (first on line {seen[key]})")
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _read_yaml(p: Path, stage: str) -> dict[str, Any]:
    import yaml

    if not p.is_file():
        raise LongbenchError(f"config file {p} does not exist")
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_unique_key_loader()) or {}
    except LongbenchError as e:
        raise LongbenchError(f"{p}: {e}") from None
    except yaml.YAMLError as e:
        raise LongbenchError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
    except UnicodeDecodeError as e:
        raise LongbenchError(f"{p}: not valid UTF-8 (byte {e.start})") from None
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise LongbenchError(f"{p}: invalid YAML (nested too deeply)") from None
    if not isinstance(data, dict):
        raise LongbenchError(f"{p}: the config must be a mapping of sections")
    found = data.pop("stage", None)
    if found is not None and found != stage:
        raise LongbenchError(f"{p}: the file says stage {found!r} but --stage is {stage!r}")
    return data


def load_config(stage: str, path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Build the config of ``stage`` from a YAML file and ``--set`` overrides, then check it.

    Raises:
        LongbenchError: unknown stage, unreadable YAML, unknown keys, wrong types or invalid values.
    """
    cls = stage_class(stage).config_class
    data = _read_yaml(Path(path), stage) if path is not None else {}
    data = deep_merge(data, parse_assignments(overrides))
    cfg = build_dataclass(cls, data)
    cfg.resolve()
    cfg.check()
    return cfg


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_from_dict(stage: str, data: dict[str, Any]) -> Any:
    """Rebuild a config written into a manifest or the run directory."""
    cfg = build_dataclass(stage_class(stage).config_class, data)
    cfg.resolve()
    return cfg


def path_keys(cls: type, prefix: str = "") -> frozenset[str]:
    """Dotted keys of the fields of config class ``cls`` that name a file, directory or model id (declared
    with ``metadata=longalign.sections.PATH``)."""
    types = dataclass_fields(cls)
    out: set[str] = set()
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(types[f.name]):
            out |= path_keys(types[f.name], f"{prefix}{f.name}.")
        elif f.metadata.get("path"):
            out.add(prefix + f.name)
    return frozenset(out)


def same_setting(key: str, a: Any, b: Any, paths: frozenset[str] | set[str]) -> bool:
    """Whether two values of config key ``key`` mean the same; a key in ``paths`` (see :func:`path_keys`)
    names the same file or directory however written (relative to the working directory, absolute, with
    ``~`` or symlinks)."""
    if a == b:
        return True
    if key not in paths or not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        return False
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()

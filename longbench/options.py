"""Declared options: the one place where ``KEY=VALUE`` strings become typed values.

A component declares its options once, as a dataclass with type-hinted fields (nested dataclasses are
sections, addressed with dotted keys such as ``train.max_steps``). Values arrive from YAML files, from the
command line (``--set train.max_steps=100``) or from Python callers; :func:`build_dataclass` checks every
key against the declaration and :func:`coerce` converts every value to its field's type. Every error is a
one-line :class:`~longbench.errors.LongbenchError` that names the key (with a "did you mean" suggestion
for unknown keys).

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``list[T]``, ``X | None`` (empty, ``none``
or ``null`` mean "not set"), ``Literal[...]`` (one of the listed values), ``Any`` (kept as given) and
nested dataclasses. This module imports no torch and nothing of ``longalign``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any

from longbench.errors import LongbenchError

#: strings accepted as booleans (case-insensitive)
TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})
#: strings that mean "not set" for an optional (``X | None``) field
NONE_WORDS = frozenset({"", "none", "null"})


def parse_bool(value: Any) -> bool:
    """``True``/``False``, or one of true/false, yes/no, on/off, 1/0 (any case, surrounding spaces ignored).

    Raises:
        ValueError: any other value.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)):
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
    raise ValueError(f"expected true/false, got {value!r}")


def parse_scalar(raw: str) -> Any:
    """Read a command-line value as a YAML scalar or flow list (``3`` → 3, ``1e-4`` → 1e-4, ``[1, 2]``).

    Text that is not valid YAML is kept as the string itself; an empty string stays ``""``.

    Raises:
        LongbenchError: the value nests too deeply for the YAML parser.
    """
    import yaml

    if not raw.strip():
        return ""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise LongbenchError(f"the value {raw[:40]!r}… is nested too deeply") from None


def dataclass_fields(cls: type) -> dict[str, Any]:
    """Field name → resolved type hint of dataclass ``cls`` (string annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def unknown_key_error(key: str, known: Iterable[str], prefix: str = "", *,
                      label: str = "config key") -> LongbenchError:
    """The error for an undeclared ``prefix + key``, with the closest declared key as a suggestion."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
    return LongbenchError(f"unknown {label} {prefix + key!r}{hint} (known in this section: {', '.join(known)})")


def coerce(value: Any, typ: Any, key: str, *, label: str = "config key") -> Any:
    """Convert ``value`` (a string from the command line, or a YAML/Python value) to type ``typ``.

    Args:
        value: the value as given.
        typ: the declared type (see the module docstring for the supported ones).
        key: the option's full name, used in error messages (``train.max_steps``).
        label: what the key is called in error messages (``config key``, ``model option``, …).

    Raises:
        LongbenchError: the value does not fit the type; the message names ``key``.
    """
    def bad(expected: str) -> LongbenchError:
        return LongbenchError(f"{label} {key!r}: expected {expected}, got {value!r}")

    origin = typing.get_origin(typ)
    if typ is Any:
        return value
    if origin in (typing.Union, types.UnionType):  # ``X | None``: empty means "not set"
        inner = [t for t in typing.get_args(typ) if t is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in NONE_WORDS):
            return None
        return coerce(value, inner[0], key, label=label)
    if origin is typing.Literal:
        choices = typing.get_args(typ)
        for choice in choices:  # convert to the choice's type first: "3" matches Literal[3]
            try:
                if coerce(value, type(choice), key, label=label) == choice:
                    return choice
            except LongbenchError:
                continue
        raise bad("one of " + ", ".join(str(c) for c in choices))
    if origin is list:
        (inner,) = typing.get_args(typ)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        return [coerce(v, inner, f"{key}[{i}]", label=label) for i, v in enumerate(value)]
    if typ is bool:
        if not isinstance(value, (bool, str)):  # a YAML 1 or 0 is a number, not a switch
            raise bad("true/false")
        try:
            return parse_bool(value)
        except ValueError:
            raise bad("true/false") from None
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, str, float)):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)  # exact for large integers, which a float would round
            except ValueError:
                pass
        try:
            as_float = float(value)
        except ValueError:
            raise bad("an integer") from None
        if not as_float.is_integer():  # also rejects inf and nan
            raise bad("an integer")
        return int(as_float)
    if typ is float:
        if isinstance(value, bool):
            raise bad("a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
    if typ is str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise bad("a string")
        return str(value)
    raise LongbenchError(f"{label} {key!r}: unsupported type {typ!r}")  # a declaration bug, not user input


def build_dataclass(cls: type, data: dict[str, Any], prefix: str = "", *, label: str = "config key") -> Any:
    """Instantiate dataclass ``cls`` from its defaults updated with ``data`` (nested mappings for sections).

    A section given as a mapping updates that section's defaults key by key; ``None`` keeps them.

    Raises:
        LongbenchError: an undeclared key, a value of the wrong type, or a section that is not a mapping.
    """
    if not isinstance(data, dict):
        raise LongbenchError(f"config section {prefix.rstrip('.') or 'root'!r}: expected a mapping, got {data!r}")
    fields = dataclass_fields(cls)
    obj = cls()
    for key, value in data.items():
        if key not in fields:
            raise unknown_key_error(str(key), fields, prefix, label=label)
        typ = fields[key]
        if dataclasses.is_dataclass(typ):
            current = getattr(obj, key)
            merged = {**dataclasses.asdict(current), **(value or {})} if isinstance(value, dict) or value is None \
                else value
            setattr(obj, key, build_dataclass(typ, merged, f"{prefix}{key}.", label=label))
        else:
            setattr(obj, key, coerce(value, typ, f"{prefix}{key}", label=label))
    return obj


def parse_assignments(items: Iterable[str], *, flag: str = "--set",
                      example: str = "train.max_steps=100") -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → ``{"a": {"b": 1}, "c": "x"}``; values are read with :func:`parse_scalar`.

    Args:
        items: ``KEY=VALUE`` strings; a dotted key addresses a nested section.
        flag: the command-line flag they came from, for error messages.
        example: an example assignment shown when an item has no ``=``.

    Raises:
        LongbenchError: an item without ``=`` or key, or a key used both as a value and a section.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, raw = split_assignment(item, flag, example)
        try:
            value = parse_scalar(raw)
        except LongbenchError:
            raise LongbenchError(f"{flag} {key}: the value is nested too deeply") from None
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise LongbenchError(f"{flag} {item!r}: {p!r} is set both as a value and a section")
        node[parts[-1]] = value
    return out


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``update``, merging nested mappings key by key (neither argument is changed)."""
    out = dict(base)
    for k, v in update.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# ------------------------------------------------------------------------------- component options
# Models, metrics, detectors and judges declare their ``KEY=VALUE`` options (``--model-arg``, ``--metric-arg``)
# as a flat dataclass in a module that imports no torch, so ``longbench models list`` / ``metrics list`` show
# them without importing the implementation; the implementation is built from the coerced instance.


def option(default: Any = None, help: str = "") -> Any:
    """A dataclass field with a one-line help text (shown by ``--help`` and the ``list`` commands)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of a component that takes none."""


@dataclasses.dataclass(frozen=True)
class OptionInfo:
    """One declared option as the listings show it."""

    name: str
    type: str
    default: Any
    help: str

    def line(self) -> str:
        """``name (type, default X): help`` (no default shown when it is None: "not set", which the help says)."""
        default = "" if self.default is None else f", default {self.default!r}"
        return f"{self.name} ({self.type}{default})" + (f": {self.help}" if self.help else "")


def type_name(typ: Any) -> str:
    """A short readable name of a declared type: ``int``, ``float | None``, ``float32|float16``."""
    origin = typing.get_origin(typ)
    if typ is Any:
        return "any"
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if t is type(None) else type_name(t) for t in typing.get_args(typ))
    if origin is typing.Literal:
        return "|".join(str(c) for c in typing.get_args(typ))
    if origin is list:
        return f"list of {type_name(typing.get_args(typ)[0])}"
    return getattr(typ, "__name__", str(typ))


def describe_options(cls: type) -> list[OptionInfo]:
    """The declared options of dataclass ``cls``, in declaration order."""
    hints = dataclass_fields(cls)
    return [OptionInfo(f.name, type_name(hints[f.name]), f.default, f.metadata.get("help", ""))
            for f in dataclasses.fields(cls)]


def build_options(cls: type, values: typing.Mapping[str, Any] | None, component: str) -> Any:
    """The options dataclass ``cls`` of ``component`` from ``KEY=VALUE`` values (strings from the command
    line, or typed values from Python and suite headers); unset keys keep their declared defaults.

    Args:
        cls: a flat options dataclass (declared with :func:`option` fields).
        values: option name → value.
        component: what the options belong to, for error messages (``metric 'count'``).

    Raises:
        LongbenchError: one line naming the component and the key: an undeclared key (with a suggestion and
            the declared ones) or a value that does not fit the key's type.
    """
    fields = dataclass_fields(cls)
    kwargs = {}
    for key, value in (values or {}).items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise LongbenchError(f"{component} has no option {key!r}{hint} (options: {', '.join(fields) or 'none'})")
        kwargs[key] = coerce(value, fields[key], key, label=f"{component} option")
    return cls(**kwargs)


def option_values(options: Any) -> dict[str, Any]:
    """Field name → value of an options dataclass (shallow, unlike ``dataclasses.asdict``)."""
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}


def split_assignment(item: str, flag: str, example: str, *, form: str = "KEY=VALUE",
                     at_last: bool = False) -> tuple[str, str]:
    """``"KEY=VALUE"`` → ``(KEY, VALUE)``, the key stripped; a one-line error naming ``flag`` otherwise.

    ``at_last`` splits at the last ``=`` (for keys that contain one, such as the column
    ``fact_recall@<=77``), else at the first (a text value may contain ``=``). ``form`` and ``example`` are
    what the error shows (``expected METRIC=DELTA (e.g. denscore=0.5)``).
    """
    key, sep, raw = item.rpartition("=") if at_last else item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise LongbenchError(f"{flag} {item!r}: expected {form} (e.g. {example})")
    return key, raw


def parse_key_values(items: Iterable[str], flag: str, example: str, *, form: str = "KEY=VALUE",
                     numbers: bool = False, unique: bool = False) -> dict[str, Any]:
    """Flat ``KEY=VALUE`` command-line values → ``{KEY: VALUE}``, values stripped. Option values stay strings
    (:func:`build_options` converts them to the declared types). With ``numbers`` every value must be a
    number (callers check the range) and keys split at the last ``=`` (column names such as
    ``fact_recall@<=77``). A key given twice keeps its last value, or is an error with ``unique``.

    Raises:
        LongbenchError: one line naming ``flag``: an item without ``=`` or key, a value that is not a number
            (``numbers``), a key given twice (``unique``).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, raw = split_assignment(item, flag, example, form=form, at_last=numbers)
        if unique and key in out:
            raise LongbenchError(f"{flag}: {key!r} given twice")
        if numbers:
            try:
                out[key] = float(raw)
            except ValueError:
                raise LongbenchError(f"{flag} {item!r}: {raw.strip()!r} is not a number") from None
        else:
            out[key] = raw.strip()
    return out


def parse_metric_args(items: Iterable[str]) -> dict[str, dict[str, str]]:
    """``--metric-arg METRIC.KEY=VALUE`` values → ``{METRIC: {KEY: VALUE}}`` (one-line errors naming the flag)."""
    out: dict[str, dict[str, str]] = {}
    for key, val in parse_key_values(items, "--metric-arg", "steps=30").items():
        metric, dot, opt = key.partition(".")
        if not dot or not opt:
            raise LongbenchError(f"--metric-arg {key}={val}: expected METRIC.KEY=VALUE, e.g. denscore.splitter=default")
        out.setdefault(metric, {})[opt] = val
    return out

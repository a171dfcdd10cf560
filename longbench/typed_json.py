"""Dataclasses as JSON schemas: check parsed JSON against a dataclass, write a dataclass as JSON, document it.

A schema is a tree of dataclasses whose fields carry ``metadata``: ``doc`` (what the field means),
``optional`` (the key may be absent from a file; it then reads as null) and ``flatten`` (a dict whose keys
are written inline in the parent object). Field types: ``str``, ``int``, ``float`` (an integer is a number
too), ``bool``, ``X | None``, ``Literal[...]``, ``dict[K, V]`` (``K`` a ``Literal`` restricts the keys),
``list[T]``, ``tuple[A, B]`` (a JSON list of that length), ``Annotated[T, Check(...)]`` (an extra
constraint), ``Any`` and nested dataclasses. Checking is strict about types and lenient about keys it does
not know (files from newer writers stay readable). Unlike :mod:`longbench.options`, nothing is converted:
this reads files written by programs, not values typed by people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints


@dataclass(frozen=True)
class Check:
    """An extra constraint on a value: ``Annotated[str, Check(test, "a sha256 hex digest")]``."""

    test: Callable[[Any], bool]
    desc: str


def doc(text: str, *, optional: bool = False, flatten: bool = False) -> dict[str, Any]:
    """The metadata of a schema field: ``x: int = field(metadata=doc("what x is"))`` (no default: the
    writer always sets it)."""
    return {"doc": text, "optional": optional, "flatten": flatten}


def _is_schema(tp: Any) -> bool:
    return isinstance(tp, type) and is_dataclass(tp)


def to_json(obj: Any, omit_none: frozenset[str] = frozenset()) -> Any:
    """A schema object as its JSON form: keys in field order, ``flatten`` fields inline, fields named in
    ``omit_none`` left out when None. Dicts and lists are converted recursively; other values kept."""
    if is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in fields(obj):
            v = getattr(obj, f.name)
            if f.metadata.get("flatten"):
                out.update(to_json(v, omit_none))
            elif not (v is None and f.name in omit_none):
                out[f.name] = to_json(v, omit_none)
        return out
    if isinstance(obj, dict):
        return {k: to_json(v, omit_none) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v, omit_none) for v in obj]
    return obj


_JSON_TYPE = {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer", float: "number",
              type(None): "null"}


def describe(tp: Any) -> str:
    """How a type reads in an error message and in the documentation (``a number or null``)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return args[1].desc
    if origin in (Union, UnionType) and type(None) in args:
        return f"{describe(next(a for a in args if a is not type(None)))} or null"
    if origin is tuple:
        return "[" + ", ".join(describe(a) for a in args) + "]"
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin is dict:
        keys = "key" if get_origin(args[0]) is not Literal else "/".join(get_args(args[0]))
        return "an object" if args[1] is Any else f"an object, {keys} -> {describe(args[1])}"
    if origin is list:
        return f"a list, each {describe(args[0])}"
    if _is_schema(tp):
        return "an object"
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}.get(tp, "any value")


def problem(value: Any, tp: Any, path: str = "") -> str | None:
    """The first problem of ``value`` read as ``tp`` (None when it is valid), naming the dotted path."""
    origin, args = get_origin(tp), get_args(tp)
    bad = f"{path or 'value'} must be {describe(tp)}, got {_JSON_TYPE.get(type(value), type(value).__name__)}"
    if tp is Any:
        return None
    if origin is Annotated:
        return problem(value, args[0], path) or (None if args[1].test(value) else f"{path} is not {args[1].desc}")
    if origin in (Union, UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return None if any(problem(value, a, path) is None for a in inner) else bad
    if origin is Literal:
        return None if value in args else bad
    if origin is tuple:
        ok = isinstance(value, list) and len(value) == len(args) and all(
            problem(v, a, path) is None for v, a in zip(value, args))
        return None if ok else bad
    if _is_schema(tp):
        return _object_problem(value, tp, path, bad)
    if origin is dict:
        if not isinstance(value, dict):
            return bad
        keys = get_args(args[0]) if get_origin(args[0]) is Literal else None
        for k, v in value.items():
            if keys is not None and k not in keys:
                return f"{path}: unknown key {k!r} (known: {', '.join(keys)})"
            found = problem(v, args[1], f"{path}.{k}")
            if found:
                return found
        return None
    if origin is list:
        if not isinstance(value, list):
            return bad
        return next((p for i, v in enumerate(value) if (p := problem(v, args[0], f"{path}[{i}]"))), None)
    if tp is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else bad
    if tp is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else bad
    return None if isinstance(value, tp) else bad


def _object_problem(value: Any, tp: type, path: str, bad: str) -> str | None:
    if not isinstance(value, dict):
        return bad
    hints = get_type_hints(tp, include_extras=True)
    for f in fields(tp):
        if f.metadata.get("flatten"):
            continue
        sub = f"{path}.{f.name}" if path else f.name
        if f.name not in value:
            if not f.metadata.get("optional"):
                return f"missing {sub}"
            continue
        found = problem(value[f.name], hints[f.name], sub)
        if found:
            return found
    return None


def doc_lines(tp: type, indent: str = "") -> list[str]:
    """One line per field of a schema (nested schemas indented below their field): name, type, meaning."""
    lines = []
    hints = get_type_hints(tp, include_extras=True)
    for f in fields(tp):
        sub = hints[f.name]
        opt = ", optional" if f.metadata.get("optional") else ""
        kind = "inline keys" if f.metadata.get("flatten") else describe(sub)
        lines.append(f"{indent}{f.name} ({kind}{opt}): {f.metadata['doc']}")
        nested = [t for t in (sub, *get_args(sub)) if _is_schema(t)]
        if nested:
            lines += doc_lines(nested[0], indent + "    ")
    return lines

"""Checks of an item's ``questions`` (the suite schema's rules for them, see :mod:`longbench.suites.schema`):
used when a suite file is validated, when an item is built from JSON, and by the DPG-Bench importer."""

from __future__ import annotations

from typing import Any

from longbench.suites.base import is_int, nonempty_str, object_list

QUESTION_FIELDS = ("id", "text", "depends_on", "category", "fact")


def question_problems(questions: Any, n_facts: int) -> list[str]:
    """Every problem of an item's ``questions`` value: structure, empty text, duplicate ids, a dependency on
    an unknown id or on itself, a dependency cycle, a ``fact`` index out of range (empty: valid)."""
    out: list[str] = []
    ids: dict[str, int] = {}
    graph: dict[str, list[str]] = {}
    for k, w, q in object_list(questions, "questions", QUESTION_FIELDS, out):
        qid = q.get("id")
        if not nonempty_str(qid):
            out.append(f"{w} needs a non-empty string id, got {qid!r}")
            qid = None
        else:
            w = f"{w} (id {qid!r})"
            if qid in ids:
                out.append(f"{w} duplicates the id of questions[{ids[qid]}]")
            else:
                ids[qid] = k
        if not nonempty_str(q.get("text")):
            out.append(f"{w} has an empty or missing text")
        deps = q.get("depends_on", [])
        if not isinstance(deps, list) or not all(nonempty_str(x) for x in deps):
            out.append(f"{w} depends_on must be a list of question ids (strings)")
            deps = []
        if q.get("category") is not None and not nonempty_str(q["category"]):
            out.append(f"{w} category must be a non-empty string")
        fact = q.get("fact")
        if fact is not None and not (is_int(fact) and 0 <= fact < n_facts):
            out.append(f"{w} fact must be an index into the item's {n_facts} facts, got {fact!r}")
        if qid is not None and qid not in graph:
            graph[qid] = list(deps)
    for qid, deps in graph.items():
        for dep in deps:
            if dep == qid:
                out.append(f"question {qid!r} depends on itself")
            elif dep not in graph:
                out.append(f"question {qid!r} depends on unknown question {dep!r}")
    cycle = _dependency_cycle(graph)
    if cycle:
        out.append(f"questions form a dependency cycle: {' -> '.join(repr(c) for c in cycle)}")
    return out


def _dependency_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle (first node repeated at the end) of the dependency graph, ignoring self-loops and
    unknown ids (reported on their own), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in graph:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            deps = [d for d in graph[node] if d != node and d in graph]
            if i < len(deps):
                stack.append((node, i + 1))
                nxt = deps[i]
                if state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return None

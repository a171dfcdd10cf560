"""What a scene world declares, and what is done with its items: their scene, checking their facts
(against the scene, or against the objects a reader saw), and the scenes the ``<world>:`` models draw.

Every group of a scene world yields facts of four types: ``presence`` (its entity name), ``count``,
``attribute`` (a world-specific property bound to the group, e.g. the size word in ``synth``, the colour
in ``mini``) and ``spatial`` (its region). ``World.fact_fields`` maps the last three to the group
fields that hold their values.

* :meth:`World.known_scene` (``<world>:clip<N>``): a fact is *known* when every token that states it
  lies inside the window (``tokens.fact_last_tokens``, ``tokens.visible``). A group whose presence fact
  is unknown is omitted (presence is stated by the first mention of the group, and every other fact
  ends at or after a mention of it, so all its facts are unknown too). A drawn group keeps its known
  values; an unknown count or attribute is guessed uniformly from the world's values (in the order of
  ``fact_fields``), an unknown region uniformly from the regions left free by the groups whose region is
  known. Guesses come from the request seed, so they are right by chance only. The background is the
  stated one when its colour word is inside the window, else the world's ``default_background``.
* :meth:`World.corrupt_scene` (``<world>:corrupt-K``): the item's facts are shuffled with the request
  seed and the first K are broken in that order: presence → the group is dropped (all its facts fail);
  count / attribute → another value of the world; spatial → a free region. Breaking a fact of an
  already dropped group changes nothing. The broken set for K is a prefix of the one for K+1, so every
  image's fact recall is non-increasing in K. ``facts`` restricts the breaking to some of the facts (the
  ladders of ``longbench meta-eval``: only facts within, or only facts beyond, 77 positions): those are
  shuffled the same way and broken by the same rules.
* :meth:`World.random_scene` (``<world>:random``): a scene drawn by the world's own sampler from the request
  seed alone, ignoring the prompt: the fact recall a model gets by chance, with drawings as plausible as the
  oracle's.

Pure Python.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.worlds.scene import SceneBase
from longbench.worlds.tokens import CLIP_WINDOW, background_last_token, fact_last_tokens, visible

if TYPE_CHECKING:
    from longbench.suites.base import Fact, Item
    from longbench.text.tokenizer import TokenCounter


@dataclass(frozen=True)
class World:
    """A scene world as the generic layer sees it.

    Attributes:
        name: the world's name: its models are ``<name>:<model>``, its metric ``<name>``.
        adjective: how messages call its items ("synthetic").
        suite: its built-in test suite, named in errors.
        scene_key: the ``item.meta`` key holding an item's scene (JSON form).
        scene_type: the world's ``SceneBase`` subclass.
        fact_fields: fact type (``count``, ``attribute``, ``spatial``) → the group field holding its
            value; :meth:`known_scene` guesses unknown values in this order (``spatial`` last).
        default_background: drawn by ``clip<N>`` models that never read the background's colour.
        rng_prefix: prefix of the string seeds of the drawn scenes (each world keeps its own streams).
        sampler: module holding the world's ``sample_scene(rng)`` (imported when first used: the sampler
            imports the world's tables, which import this).
    """

    name: str
    adjective: str
    suite: str
    scene_key: str
    scene_type: type[SceneBase]
    fact_fields: dict[str, str]
    default_background: str
    rng_prefix: str = ""
    sampler: str = ""

    def item_scene(self, item: Item) -> Any:
        """The scene of an item of this world (``item.meta[scene_key]``); a clear error for any other item."""
        raw = item.meta.get(self.scene_key) if isinstance(item.meta, dict) else None
        if raw is None:
            raise LongbenchError(
                f"item {item.id!r} has no {self.adjective} scene (meta.{self.scene_key}): {self.name} models "
                f"and the '{self.name}' metric only work on {self.adjective} suites such as {self.suite}")
        return self.scene_type.from_dict(raw, where=f"item {item.id!r} meta.{self.scene_key}")

    def check_facts(self, item: Item, scene: SceneBase) -> None:
        """Every fact must name a group of the scene and state a value of this world that the scene shows."""
        for f in item.facts:
            g = scene.named(f.entity)
            if g is None:
                names = ", ".join(sorted(x.name for x in scene.groups))
                raise LongbenchError(f"item {item.id!r}: fact {f.type!r} names {f.entity!r}, which is not a "
                                     f"group of its scene ({names})")
            field = self.fact_fields.get(f.type)
            if field is None:
                if f.type != "presence":
                    raise LongbenchError(f"item {item.id!r}: fact type {f.type!r} is not used by "
                                         f"{self.adjective} items")
                continue
            allowed = self.scene_type.values(field)
            if f.value not in allowed:
                raise LongbenchError(f"item {item.id!r}: {f.type} fact of {f.entity!r} has value {f.value!r} "
                                     f"(expected one of {', '.join(map(str, allowed))})")
            truth = getattr(g, field)
            if f.value != truth:
                raise LongbenchError(f"item {item.id!r}: {f.type} fact of {f.entity!r} says {f.value!r} but "
                                     f"its scene says {truth!r}")

    def objects_hold(self, fact: Fact, objs: Sequence[Any]) -> bool:
        """Whether ``fact`` holds given ``objs``, the objects a reader saw with the fact's group's identity
        (anywhere in the image): presence — at least one; count — exactly ``value``; attribute and
        spatial — at least one, and all of them have the stated value."""
        if fact.type == "presence":
            return bool(objs)
        if fact.type == "count":
            return len(objs) == fact.value
        field = self.fact_fields.get(fact.type)
        return field is not None and bool(objs) and all(getattr(o, field) == fact.value for o in objs)

    def scene_holds(self, fact: Fact, scene: SceneBase) -> bool:
        """Whether ``fact`` holds in ``scene`` (a scene of this world, e.g. a corrupted one): its group is
        drawn and, past presence, the group's field has the stated value."""
        g = scene.named(fact.entity)
        if g is None or fact.type == "presence":
            return g is not None
        field = self.fact_fields.get(fact.type)
        return field is not None and getattr(g, field) == fact.value

    def known_scene(self, item: Item, seed: int, window: int = CLIP_WINDOW,
                    counter: TokenCounter | None = None) -> Any:
        """The scene as read through a ``window``-position text encoder (module docstring); ``counter`` is
        the CLIP token counter (built when needed and not given)."""
        scene = self.item_scene(item)
        self.check_facts(item, scene)
        known: dict[str, dict[str, Any]] = {g.name: {} for g in scene.groups}
        for f, last in zip(item.facts, fact_last_tokens(item, counter)):
            if visible(last, window):
                known[f.entity][f.type] = f.value if f.type != "presence" else True
        rng = random.Random(f"{self.rng_prefix}clip{window}:{seed}")
        guessed = [(t, field) for t, field in self.fact_fields.items() if t != "spatial"]
        drafts = []
        for g in scene.groups:
            k = known[g.name]
            if "presence" not in k:
                continue
            values = {field: k[t] if t in k else rng.choice(scene.values(field)) for t, field in guessed}
            drafts.append((g, values, k.get("spatial")))
        free = [r for r in scene.values("region") if r not in {d[2] for d in drafts}]
        groups = []
        for g, values, region in drafts:
            if region is None:
                region = scene.home(g) or free.pop(rng.randrange(len(free)))
            groups.append(dataclasses.replace(g, region=region, **values))
        background = scene.background
        bg_last = background_last_token(item, counter)
        if bg_last is not None and not visible(bg_last, window):
            background = self.default_background
        return dataclasses.replace(scene, background=background, groups=tuple(groups)).sorted()

    def random_scene(self, seed: int, like: SceneBase | None = None) -> Any:
        """A scene of the world drawn from ``seed`` alone, whatever the prompt (module docstring); ``like``: a
        scene whose kind (``SceneBase.sampler_args``, e.g. the miniature layout) the drawn one shares."""
        import importlib

        if not self.sampler:
            raise LongbenchError(f"the {self.adjective} world declares no scene sampler")
        sample = importlib.import_module(self.sampler).sample_scene
        kwargs = like.sampler_args() if like is not None else {}
        return sample(random.Random(f"{self.rng_prefix}random:{seed}"), **kwargs).sorted()

    def corruption_order(self, item: Item, seed: int, facts: Sequence[int] | None = None) -> list[int]:
        """The indices (into ``item.facts``) in the order :meth:`corrupt_scene` breaks them: ``facts`` (None: all
        of them) shuffled by ``seed``; ``corrupt_scene(item, k, seed, facts)`` breaks the first ``k``."""
        if facts is None:
            order = list(range(len(item.facts)))
        else:
            order = sorted(set(facts))
            if order and not 0 <= order[0] <= order[-1] < len(item.facts):
                raise LongbenchError(f"item {item.id!r}: fact indices {order} outside 0..{len(item.facts) - 1}")
        random.Random(f"{self.rng_prefix}corrupt:{seed}").shuffle(order)
        return order

    def corrupt_scene(self, item: Item, k: int, seed: int, facts: Sequence[int] | None = None) -> Any:
        """The scene with ``k`` of the item's facts broken (module docstring); ``facts``: the indices (into
        ``item.facts``) of the facts that may be broken, None: all of them."""
        scene = self.item_scene(item)
        self.check_facts(item, scene)
        order = self.corruption_order(item, seed, facts)
        groups: dict[str, Any] = {g.name: g for g in scene.groups}
        for fi in order[:k]:
            f = item.facts[fi]
            g = groups[f.entity]
            if g is None:
                continue  # the group is already dropped
            if f.type == "presence":
                groups[f.entity] = None
                continue
            field = self.fact_fields[f.type]  # check_facts admits no other type
            if f.type == "spatial":
                taken = {x.region for x in groups.values() if x is not None}
                options = [r for r in scene.values("region") if r not in taken]
            else:
                options = [v for v in scene.values(field) if v != getattr(g, field)]
            rng = random.Random(f"{self.rng_prefix}corrupt:{seed}:{fi}")
            groups[f.entity] = dataclasses.replace(g, **{field: rng.choice(options)})
        return dataclasses.replace(scene, groups=tuple(g for g in groups.values() if g is not None)).sorted()

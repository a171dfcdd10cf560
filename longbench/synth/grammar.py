"""Grammar: a scene → a long natural-language prompt whose sentences carry known facts.

Every group yields four facts — ``presence``, ``count`` (int), ``attribute`` (its size word) and
``spatial`` (its region) — spread over one to three sentences: an *introduction* (always carries
presence, plus any subset of the others) and up to two *detail* sentences that refer back to the
group. One sentence states the background (no fact), and *filler* sentences describe style and mood
without stating any fact; fillers and the ordering of sentences push many facts past CLIP's 77-token
window. Wording varies: several templates per fact kind, synonyms for shapes, colours and sizes,
number words and digits. Pure Python; all choices come from the ``random.Random`` passed in.

Each fact also records the character spans of the prompt that state it: the words naming its group
("red circles") and, except for presence, the words giving its value (the count word, the size word,
the location phrase). Whether a truncating text encoder sees a fact is decided from these spans (all of
them must lie inside its window), not from where the fact's sentence starts. While a sentence is
realised, these words are wrapped in invisible marks (:func:`_mark`) that :func:`_unmark` turns into
spans.

Sentences never contain ``;``, ``!``, ``?``, abbreviations or decimals, so the ``default`` splitter
returns exactly these sentences.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from longbench.suites.base import Fact
from longbench.synth.world import MAX_GROUPS, Group, Scene
from longbench.worlds.grammar import RealiserBase, Sentence, partition, plan_groups

MIN_SENTENCES, MAX_SENTENCES = 4, 12
FACT_KINDS = ("count", "size", "region")  # besides presence, which the introduction always carries
_FACT_TYPE = {"count": "count", "size": "attribute", "region": "spatial"}
_TYPE_ORDER = {"presence": 0, "count": 1, "attribute": 2, "spatial": 3}

# Shape words keep the entity's head noun ("five-pointed stars" is still "stars"): the suite validator
# checks that every fact's sentence mentions its entity, so synonyms such as "disc" are not used.
SHAPE_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "circle": (("circle", "circles"),),
    "square": (("square", "squares"),),
    "triangle": (("triangle", "triangles"),),
    "diamond": (("diamond", "diamonds"),),
    "star": (("star", "stars"), ("star", "stars"), ("five-pointed star", "five-pointed stars")),
    "cross": (("cross", "crosses"),),
}
COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red",), "orange": ("orange",), "yellow": ("yellow",), "green": ("green",),
    "blue": ("blue",), "purple": ("purple", "violet"), "pink": ("pink",), "brown": ("brown",),
    "white": ("white",), "gray": ("gray", "grey"), "black": ("black",),
}
SIZE_WORDS: dict[str, tuple[str, ...]] = {"small": ("small", "tiny", "little"), "large": ("large", "big")}
COUNT_WORDS: dict[int, tuple[str, ...]] = {
    1: ("one", "a single", "1", "exactly one"),
    2: ("two", "a pair of", "2", "exactly two"),
    3: ("three", "3", "exactly three"),
    4: ("four", "4", "exactly four"),
}
BARE_COUNT: dict[int, tuple[str, ...]] = {
    1: ("one", "1"), 2: ("two", "2"), 3: ("three", "3"), 4: ("four", "4"),
}
LOCATIONS: dict[str, tuple[str, ...]] = {
    "top-left": ("in the top left corner", "in the upper left corner", "at the top left",
                 "up in the top left of the image"),
    "top": ("at the top in the middle", "in the top centre", "in the middle of the top edge",
            "in the upper middle of the picture"),
    "top-right": ("in the top right corner", "in the upper right corner", "at the top right",
                  "up in the top right of the image"),
    "left": ("on the left side halfway down", "in the middle of the left edge", "at the centre left",
             "on the left at mid height"),
    "center": ("in the very centre", "in the middle of the picture", "exactly in the centre",
               "at the centre of the image"),
    "right": ("on the right side halfway down", "in the middle of the right edge", "at the centre right",
              "on the right at mid height"),
    "bottom-left": ("in the bottom left corner", "in the lower left corner", "at the bottom left",
                    "down in the bottom left of the image"),
    "bottom": ("at the bottom in the middle", "in the bottom centre", "in the middle of the bottom edge",
               "in the lower middle of the picture"),
    "bottom-right": ("in the bottom right corner", "in the lower right corner", "at the bottom right",
                     "down in the bottom right of the image"),
}
BACKGROUND_TEMPLATES = (
    "The background is a flat, even {bg}.",
    "Everything is set against a plain {bg} background.",
    "The canvas is filled with a solid {bg} colour.",
    "All of this sits on a uniform {bg} backdrop.",
    "Behind everything there is nothing but a flat {bg} surface.",
    "The backdrop is completely {bg}, with no texture or gradient.",
    "Picture a simple flat illustration on a {bg} canvas.",
)
FILLERS = (
    "The style is clean and flat, like a page from a picture book for young children.",
    "There is no shading, texture or perspective anywhere in the image.",
    "Every shape has crisp hard edges and is filled with a solid colour.",
    "The composition feels calm and orderly, with plenty of empty space between the groups.",
    "Nothing overlaps and no shape touches another.",
    "The lighting is perfectly even, without any shadows or highlights.",
    "It should look like a simple vector graphic made for a teaching worksheet.",
    "Think of a tidy geometry poster that hangs in a quiet classroom.",
    "No text, labels or signatures appear anywhere in the picture.",
    "The overall mood is cheerful, playful and slightly retro.",
    "Imagine the picture divided into an invisible grid of equal cells.",
    "The artwork has the precise, minimal look of modern Swiss graphic design.",
    "Each group of shapes keeps to its own part of the canvas.",
    "The edges of the image stay clear, with a comfortable margin around everything.",
    "It is the kind of picture an illustrator would sketch quickly on a tablet before adding detail.",
    "There are no gradients, outlines, reflections or drop shadows.",
    "The image is meant to be read easily at a glance, even when it is printed at postage stamp scale.",
    "Everything is drawn from straight above, as if the viewer were looking down at a table.",
    "The colours are bold and saturated, and they never blend into each other.",
    "A designer would call the layout balanced, though not perfectly symmetric.",
    "The whole scene is quiet and still, like a puzzle waiting to be solved.",
    "Keep the rendering simple and graphic rather than realistic or painterly.",
    "The shapes look as if they were cut out of coloured paper and laid down carefully.",
    "Nothing in the scene is blurred, faded or partly hidden.",
    "It could be an illustration in a counting game for a curious toddler.",
    "The picture is framed tightly, with no border at all.",
    ("If you squint, the arrangement almost resembles a map of islands scattered across a calm "
     "and empty sea."),
    ("The finished image should feel crisp and deliberate, the way a careful designer would lay out a page "
     "for a slim book about shapes and colours."),
    ("Every element is drawn with the same steady hand, so that nothing looks rushed, smudged or out of "
     "place anywhere on the canvas."),
    ("Someone looking at it for the first time should be able to describe every part of the picture after "
     "a quick glance, without any doubt about what they saw."),
    ("The look is inspired by old educational flash cards, printed with simple inks on thick matte card "
     "and kept in a wooden box."),
    ("There is a pleasant rhythm to the layout, with open space separating the groups so that each group can "
     "be told apart immediately."),
)
FLOURISHES = (
    ", drawn with crisp clean edges",
    ", standing out clearly against the background",
    ", as if cut from glossy paper",
    ", painted in a flat and even tone",
    ", with some empty space all around",
    ", rendered in the same simple graphic style as everything else",
)
_PLURAL_VERBS = ("sit", "are placed", "are arranged", "can be seen", "appear", "rest")
# Marks around the words that state a fact: OPEN tag SEP words CLOSE (control characters never occur
# in the templates).
_OPEN, _SEP, _CLOSE = "\x01", "\x02", "\x03"
#: fact type → mark kind of the words giving its value (presence has none: the group's name states it)
_VALUE_MARK = {"count": "count", "attribute": "size", "spatial": "region"}


def _mark(kind: str, name: str, words: str) -> str:
    """``words`` marked as stating ``kind`` (entity, count, size, region, background) of group ``name``."""
    return f"{_OPEN}{kind}|{name}{_SEP}{words}{_CLOSE}"


def _unmark(marked: str) -> tuple[str, dict[tuple[str, str], list[tuple[int, int]]]]:
    """The plain text and, per (kind, group name), the character spans of its marked words."""
    out: list[str] = []
    spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
    n = 0
    stack: list[tuple[tuple[str, str], int]] = []
    i = 0
    while i < len(marked):
        c = marked[i]
        if c == _OPEN:
            j = marked.index(_SEP, i)
            kind, _, name = marked[i + 1:j].partition("|")
            stack.append(((kind, name), n))
            i = j + 1
            continue
        if c == _CLOSE:
            key, start = stack.pop()
            spans.setdefault(key, []).append((start, n))
            i += 1
            continue
        out.append(c)
        n += 1
        i += 1
    if stack:
        raise ValueError(f"unclosed mark in {marked!r}")
    return "".join(out), spans
_SINGULAR_VERBS = ("sits", "is placed", "is drawn", "can be seen", "appears", "rests")


@dataclass(frozen=True)
class Prompt:
    """A realised prompt: its sentences, the facts they carry and where the background is stated.

    ``fact_spans`` (parallel to ``facts``) holds, per fact, the ``(start, end)`` character spans of
    :attr:`text` that state it: the group's name and, except for presence, the words giving the value.
    ``background_span`` is the span of the background colour word.
    """

    sentences: tuple[str, ...]
    facts: tuple[Fact, ...]
    background_sentence: int
    fact_spans: tuple[tuple[tuple[int, int], ...], ...] = ()
    background_span: tuple[int, int] | None = None

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def _cap(s: str) -> str:
    """Upper-case the first letter, skipping the marks that may open ``s``."""
    i = 0
    while s.startswith(_OPEN, i):
        i = s.index(_SEP, i) + 1
    return s[:i] + s[i:i + 1].upper() + s[i + 1:]


class _Realiser(RealiserBase):
    """Turns planned sentences into marked text (``worlds.grammar.RealiserBase``)."""

    scene: Scene

    def words(self, g: Group) -> tuple[str, str, str]:
        """(colour word, singular noun, plural noun)."""
        sing, plur = self.pick(SHAPE_WORDS[g.shape])
        return self.pick(COLOUR_WORDS[g.colour]), sing, plur

    def noun_phrase(self, g: Group, kinds: list[str]) -> tuple[str, bool]:
        """Indefinite noun phrase with the count and size words that ``kinds`` asks for; (text, plural)."""
        colour, sing, plur = self.words(g)
        parts = []
        plural = True
        if "count" in kinds:
            parts.append(_mark("count", g.name, self.pick(COUNT_WORDS[g.count])))
            plural = g.count > 1
        if "size" in kinds:
            parts.append(_mark("size", g.name, self.pick(SIZE_WORDS[g.size])))
        parts.append(_mark("entity", g.name, f"{colour} {plur if plural else sing}"))
        return " ".join(parts), plural

    def location(self, g: Group) -> str:
        return _mark("region", g.name, self.pick(LOCATIONS[g.region]))

    def intro(self, gi: int, kinds: list[str]) -> str:
        g = self.scene.groups[gi]
        np_, plural = self.noun_phrase(g, kinds)
        if "count" in kinds:
            self.count_stated.add(gi)
        be = "are" if plural else "is"
        if "region" in kinds:
            loc = self.location(g)
            verb = self.pick(_PLURAL_VERBS if plural else _SINGULAR_VERBS)
            return self.pick((
                f"{_cap(np_)} {verb} {loc}.",
                f"{_cap(loc)}, there {be} {np_}.",
                f"{_cap(loc)} you can see {np_}.",
                f"The picture shows {np_} {loc}.",
                f"Place {np_} {loc}.",
                f"Look {loc} and you will find {np_}.",
            ))
        return self.pick((
            f"There {be} also {np_}.",
            f"The scene includes {np_}.",
            f"{_cap(np_)} {be} part of the picture.",
            f"Add {np_} to the composition.",
            f"Somewhere in the image there {be} {np_}.",
            f"We can also spot {np_}.",
        ))

    def pair(self, gis: list[int], kinds: list[list[str]]) -> str:
        """Two introductions in one sentence."""
        clauses = []
        for gi, ks in zip(gis, kinds):
            g = self.scene.groups[gi]
            np_, plural = self.noun_phrase(g, ks)
            if "count" in ks:
                self.count_stated.add(gi)
            if "region" in ks:
                verb = self.pick(_PLURAL_VERBS if plural else _SINGULAR_VERBS)
                clauses.append(f"{np_} {verb} {self.location(g)}")
            else:
                clauses.append(f"{np_} {'are' if plural else 'is'} {self.presence_phrase(clauses)}")
        joiner = self.pick((", while ", ", and ", " and "))
        return _cap(clauses[0] + joiner + clauses[1]) + "."

    def detail(self, gi: int, kinds: list[str]) -> str:
        g = self.scene.groups[gi]
        colour, sing, plur = self.words(g)
        singular = g.count == 1 and (gi in self.count_stated or "count" in kinds)
        one, many = _mark("entity", g.name, f"{colour} {sing}"), _mark("entity", g.name, f"{colour} {plur}")
        ref = f"the {one if singular else many}"
        be = "is" if singular else "are"
        preds = []
        for k in kinds:
            if k == "size":
                size = _mark("size", g.name, self.pick(SIZE_WORDS[g.size]))
                preds.append(self.pick((f"{be} {size}", f"{'looks' if singular else 'look'} {size}",
                                        f"{be} drawn {size}", f"{be} {size} in size")))
            elif k == "region":
                loc = self.location(g)
                preds.append(self.pick((f"{'sits' if singular else 'sit'} {loc}", f"{be} placed {loc}",
                                        f"can be found {loc}", f"{be} located {loc}")))
        if "count" in kinds:
            self.count_stated.add(gi)
            n = self.pick(BARE_COUNT[g.count])
            num = _mark("count", g.name, n)
            rest = _join(preds)
            if g.count == 1:
                word = _mark("count", g.name, "one")
                head = self.pick((f"There is only {word} {one}", f"Just {word} {one} is drawn",
                                  f"There is exactly {num} {one}"))
                return head + (f", and it {rest}." if rest else ".")
            if not rest:
                return self.pick((f"There are {num} {many} in total.",
                                  f"The {many} number {num} altogether.",
                                  f"Count the {many} and you get {num}.",
                                  f"Exactly {num} {many} are drawn."))
            return self.pick((f"There are {num} {many}, and they {rest}.",
                              f"{_cap(ref)} {rest}, and there are {_mark('count', g.name, f'{n} of them')}."))
        sentence = f"{ref} {_join(preds)}"
        return self.pick((_cap(sentence) + ".", _cap(sentence) + ".", f"Make sure that {sentence}.",
                          f"Note that {sentence}."))


def _join(preds: list[str]) -> str:
    if len(preds) <= 1:
        return "".join(preds)
    return ", ".join(preds[:-1]) + " and " + preds[-1]


def _where(marks: dict[tuple[str, str], list[tuple[int, int]]], offset: int, kind: str,
           name: str) -> tuple[int, int]:
    """The prompt span of the one ``kind`` mark of group ``name`` in a sentence starting at ``offset``
    (each group is named once per sentence, each of its values stated once)."""
    (start, end), = marks[(kind, name)]
    return offset + start, offset + end


def make_prompt(scene: Scene, rng: random.Random) -> Prompt:
    """Write a prompt for ``scene``: 4-12 sentences, facts attached to the sentences stating them."""
    n = len(scene.groups)
    if not 1 <= n <= MAX_GROUPS:
        raise ValueError(f"a prompt needs 1..{MAX_GROUPS} groups, got {n}")
    verbosity = rng.random() ** 2  # one knob per prompt: spreads lengths from terse to padded
    # terse prompts state a group in one sentence more often
    parts = [partition(rng, FACT_KINDS, 0.95 - 0.75 * verbosity) for _ in range(n)]
    # Respect the sentence budget (background + introductions + details): fold details back.
    while 1 + sum(len(p) for p in parts) > MAX_SENTENCES:
        gi = max(range(n), key=lambda i: (len(parts[i]), i))
        p = parts[gi]
        parts[gi] = [p[0] + p[1], *p[2:]]
    plan = plan_groups(rng, parts, p_pair=0.4 * (1 - verbosity))
    lo, hi = max(0, MIN_SENTENCES - 1 - len(plan)), MAX_SENTENCES - 1 - len(plan)
    n_fill = max(lo, min(hi, round(max(0.0, verbosity - 0.25) / 0.75 * hi + rng.uniform(-1.0, 1.0))))
    fillers = rng.sample(range(len(FILLERS)), min(len(FILLERS), 2 * n_fill))
    if verbosity > 0.5:  # wordy prompts prefer the longer fillers
        fillers.sort(key=lambda f: -len(FILLERS[f]))
    for filler in fillers[:n_fill]:
        plan.insert(rng.randint(0, len(plan)), Sentence("filler", [filler]))
    bg_at = 0 if rng.random() < 0.8 else len(plan)
    plan.insert(bg_at, Sentence("background"))

    flourishes = rng.sample(FLOURISHES, len(FLOURISHES))  # each decoration at most once per prompt
    realiser = _Realiser(scene, rng)
    sentences: list[str] = []
    stated: list[tuple[Fact, list[tuple[int, int]]]] = []
    background_span: tuple[int, int] | None = None
    offset = 0  # where the sentence starts in the prompt (sentences are joined by one space)
    for si, s in enumerate(plan):
        if s.kind == "background":
            text = rng.choice(BACKGROUND_TEMPLATES).format(
                bg=_mark("background", "", rng.choice(COLOUR_WORDS[scene.background])))
        elif s.kind == "filler":
            text = FILLERS[s.groups[0]]
        elif s.kind == "pair":
            text = realiser.pair(s.groups, s.facts)
        elif s.kind == "intro":
            text = realiser.intro(s.groups[0], s.facts[0])
        else:
            text = realiser.detail(s.groups[0], s.facts[0])
        if s.kind in ("intro", "detail") and flourishes and rng.random() < verbosity - 0.3:
            text = text[:-1] + flourishes.pop() + "."  # decoration only: no fact
        text, marks = _unmark(text)
        sentences.append(text)
        if s.kind == "background":
            background_span = _where(marks, offset, "background", "")
        for gi, kinds in zip(s.groups, s.facts):
            g = scene.groups[gi]
            name = _where(marks, offset, "entity", g.name)
            if s.kind in ("intro", "pair"):
                stated.append((Fact("presence", si, g.name), [name]))
            for k in kinds:
                value = {"count": g.count, "size": g.size, "region": g.region}[k]
                fact = Fact(_FACT_TYPE[k], si, g.name, value)
                stated.append((fact, [name, _where(marks, offset, _VALUE_MARK[fact.type], g.name)]))
        offset += len(text) + 1
    stated.sort(key=lambda fs: (fs[0].sentence, _TYPE_ORDER[fs[0].type]))
    return Prompt(tuple(sentences), tuple(f for f, _ in stated), bg_at,
                  fact_spans=tuple(tuple(spans) for _, spans in stated), background_span=background_span)

"""Grammar: a miniature scene → a long prompt whose facts carry their exact character spans.

Every group yields four facts: ``presence`` (its shape), ``attribute`` (its colour), ``count`` and
``spatial`` (its quadrant); in a ``homes`` scene (mini-v1) only the first three, since the shape fixes the
quadrant. An *introduction* always states presence plus any subset of the others; up to two later *detail*
sentences state the rest, referring back by shape ("the circles").
Two introductions may share a sentence. One sentence names the background (not a fact), and *filler*
sentences about style state nothing; their number and places push many facts past token 77.

Each fact's span runs from the first to the last character of the words that state it: the shape
noun for presence; the hull of the shape noun and the count words, colour word or location phrase
for the others. A fact is visible to a text encoder when every token of its span is inside the
encoder's window (``longbench.worlds.tokens``).

Shape nouns have no synonyms (a fact's sentence must name its entity); colours, counts and places
have several wordings. Sentences never contain ``;``, ``!``, ``?``, abbreviations or decimals, so the
``default`` splitter returns exactly these sentences. Pure Python; all choices come from the
``random.Random`` passed in.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from longbench.mini.world import Group, Scene
from longbench.suites.base import Fact
from longbench.worlds.grammar import RealiserBase, Sentence, partition, plan_groups

FACT_KINDS = ("colour", "count", "region")  # besides presence, which the introduction always states
#: a ``homes`` scene's quadrants follow from its shapes: its prompts state no places (mini-v1)
HOMES_FACT_KINDS = ("colour", "count")
_FACT_TYPE = {"colour": "attribute", "count": "count", "region": "spatial"}
_TYPE_ORDER = {"presence": 0, "count": 1, "attribute": 2, "spatial": 3}
_VALUE_FIELD = {"count": "n", "attribute": "c", "spatial": "l"}

SHAPE_WORDS: dict[str, tuple[str, str]] = {
    "square": ("square", "squares"), "circle": ("circle", "circles"), "triangle": ("triangle", "triangles"),
    "diamond": ("diamond", "diamonds"), "cross": ("cross", "crosses"),
}
COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red",), "yellow": ("yellow",), "green": ("green",), "blue": ("blue",),
    "purple": ("purple", "violet"), "white": ("white",), "gray": ("gray", "grey"), "black": ("black",),
}
COUNT_WORDS: dict[int, tuple[str, ...]] = {
    1: ("one", "a single", "1", "exactly one", "just one"),
    2: ("two", "a pair of", "2", "exactly two"),
    3: ("three", "3", "exactly three"),
    4: ("four", "4", "exactly four"),
}
BARE_COUNT: dict[int, tuple[str, ...]] = {1: ("one", "1"), 2: ("two", "2"), 3: ("three", "3"), 4: ("four", "4")}
LOCATIONS: dict[str, tuple[str, ...]] = {
    "top-left": ("in the top left corner", "in the upper left corner", "at the top left",
                 "in the top left quarter", "up in the top left of the image", "in the upper left part of the picture"),
    "top-right": ("in the top right corner", "in the upper right corner", "at the top right",
                  "in the top right quarter", "up in the top right of the image",
                  "in the upper right part of the picture"),
    "bottom-left": ("in the bottom left corner", "in the lower left corner", "at the bottom left",
                    "in the bottom left quarter", "down in the bottom left of the image",
                    "in the lower left part of the picture"),
    "bottom-right": ("in the bottom right corner", "in the lower right corner", "at the bottom right",
                     "in the bottom right quarter", "down in the bottom right of the image",
                     "in the lower right part of the picture"),
}
BACKGROUND_TEMPLATES = (
    "The <bgw> is a flat, even <bg>.",
    "Everything sits on a plain <bg> <bgw>.",
    "The <bgw> is filled with solid <bg>.",
    "All of this is set against a uniform <bg> <bgw>.",
    "Behind the figures there is only a flat <bg> <bgw>.",
    "The <bgw> is completely <bg>, with no texture at all.",
)
BACKGROUND_NOUNS = ("background", "backdrop", "canvas")
FILLERS = (
    "The picture is tiny, like an icon on a phone screen.",
    "Every figure is drawn with hard pixel edges and no smoothing.",
    "There is no shading, texture or perspective anywhere in the image.",
    "The style is flat and simple, like early video game graphics.",
    "Nothing overlaps and no figure touches another one.",
    "The lighting is perfectly even, without shadows or highlights.",
    "It should look like a clean little pixel sprite.",
    "No text, labels or signatures appear in the picture.",
    "The mood is cheerful and tidy.",
    "Imagine the picture split into four equal quarters.",
    "Each group keeps to its own quarter of the picture.",
    "There are no gradients, outlines or reflections.",
    "Every figure is filled with one solid colour from edge to edge.",
    "The image is meant to be read at a glance, even at postage stamp size.",
    "Everything is seen from straight above, as if lying on a table.",
    "Keep the rendering crisp and graphic rather than realistic.",
    "The figures look as if they were stamped onto the page with a rubber stamp.",
    "Nothing in the scene is blurred, faded or partly hidden.",
    "It could be a tile from a memory game for small children.",
    "The picture is framed tightly, with no border around it.",
    "A careful designer would call the layout orderly and calm.",
    ("The whole thing should feel like a small puzzle card, printed cleanly and meant to be solved in a few "
     "seconds."),
    ("Think of the kind of simple graphic that a teacher might stick on a worksheet to make a lesson about "
     "counting a little more fun."),
    ("The figures are drawn with the same steady hand, so that nothing looks rushed, smudged or out of place "
     "anywhere in the picture."),
    ("Someone looking at it for the first time should be able to describe every part of it after one quick "
     "look, without any doubt."),
    ("The look is inspired by old handheld game consoles, whose screens showed only a handful of big blocky "
     "pixels at a time."),
    ("There is a pleasant rhythm to the arrangement, with open space separating the groups so that each group "
     "can be told apart immediately."),
    ("If you squint, the arrangement almost resembles a little map of islands scattered across a calm and "
     "empty sea."),
)
FLOURISHES = (
    ", drawn with crisp pixel edges",
    ", standing out clearly from the background",
    ", drawn in the same style as the rest",
    ", painted in a flat and even tone",
    ", with a little empty space all around",
)
MIN_FILLERS, MAX_FILLERS = 2, 10
#: without place phrases a prompt is shorter: more fillers keep a mini-v1 prompt as long as a mini-v0 one
HOMES_FILLERS = (4, 13)
_PLURAL_VERBS = ("sit", "are placed", "are drawn", "can be seen", "appear", "rest")
_SINGULAR_VERBS = ("sits", "is placed", "is drawn", "can be seen", "appears", "rests")
#: Labelled fields of a template: n count, c colour, s shape noun, l location (suffix: group slot in the
#: sentence), bg background colour, bgw background noun.
_FIELD = re.compile(r"<(n|c|s|l|bg|bgw)(\d?)>")


@dataclass(frozen=True)
class Prompt:
    """A realised prompt: its sentences, its facts with their character spans inside their sentence,
    and where the background is stated."""

    sentences: tuple[str, ...]
    facts: tuple[Fact, ...]
    spans: tuple[tuple[int, int], ...]  # per fact: [start, end) in sentences[fact.sentence]
    background_sentence: int
    background_span: tuple[int, int]
    fillers: tuple[int, ...]  # indices of the filler sentences

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    def sentence_offsets(self) -> list[int]:
        """Character offset of each sentence in ``text``."""
        out, pos = [], 0
        for s in self.sentences:
            out.append(pos)
            pos += len(s) + 1
        return out

    def without_sentence(self, i: int) -> Prompt:
        """The prompt without filler sentence ``i`` (facts and indices shifted accordingly)."""
        if i not in self.fillers:
            raise ValueError(f"sentence {i} is not a filler")

        def shift(j: int) -> int:
            return j - 1 if j > i else j

        return Prompt(
            sentences=self.sentences[:i] + self.sentences[i + 1:],
            facts=tuple(Fact(f.type, shift(f.sentence), f.entity, f.value) for f in self.facts),
            spans=self.spans, background_sentence=shift(self.background_sentence),
            background_span=self.background_span, fillers=tuple(shift(j) for j in self.fillers if j != i))


def fill(template: str, values: dict[str, str]) -> tuple[str, dict[str, tuple[int, int]]]:
    """Substitute the ``<field>`` markers of ``template``; return the text (first letter capitalised)
    and each field's [start, end) character span in it."""
    parts: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    pos = last = 0
    for m in _FIELD.finditer(template):
        literal = template[last:m.start()]
        parts.append(literal)
        pos += len(literal)
        key = m.group(1) + m.group(2)
        if key in spans:
            raise ValueError(f"field {key} appears twice in {template!r}")
        value = values[key]
        spans[key] = (pos, pos + len(value))
        parts.append(value)
        pos += len(value)
        last = m.end()
    parts.append(template[last:])
    text = "".join(parts)
    return text[:1].upper() + text[1:], spans


def _hull(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return min(a[0], b[0]), max(a[1], b[1])


class _Realiser(RealiserBase):
    """Turns planned sentences into templates and field values (``worlds.grammar.RealiserBase``)."""

    scene: Scene

    def noun_phrase(self, slot: int, g: Group, kinds: list[str], values: dict[str, str]) -> tuple[str, bool]:
        """Noun phrase template with the count and colour fields that ``kinds`` asks for; (template, plural)."""
        parts = []
        plural = True
        if "count" in kinds:
            values[f"n{slot}"] = self.pick(COUNT_WORDS[g.count])
            parts.append(f"<n{slot}>")
            plural = g.count > 1
        if "colour" in kinds:
            values[f"c{slot}"] = self.pick(COLOUR_WORDS[g.colour])
            parts.append(f"<c{slot}>")
        values[f"s{slot}"] = SHAPE_WORDS[g.shape][1 if plural else 0]
        parts.append(f"<s{slot}>")
        return " ".join(parts), plural

    def intro(self, gi: int, kinds: list[str], values: dict[str, str]) -> str:
        g = self.scene.groups[gi]
        np_, plural = self.noun_phrase(0, g, kinds, values)
        if "count" in kinds:
            self.count_stated.add(gi)
        be = "are" if plural else "is"
        if "region" in kinds:
            values["l0"] = self.pick(LOCATIONS[g.region])
            verb = self.pick(_PLURAL_VERBS if plural else _SINGULAR_VERBS)
            return self.pick((f"{np_} {verb} <l0>.", f"<l0>, there {be} {np_}.", f"<l0> you can see {np_}.",
                              f"The picture shows {np_} <l0>.", f"Draw {np_} <l0>.",
                              f"Look <l0> and you will find {np_}."))
        return self.pick((f"There {be} also {np_}.", f"The scene includes {np_}.", f"{np_} {be} part of the picture.",
                          f"Add {np_} to the picture.", f"Somewhere in the image there {be} {np_}.",
                          f"We can also spot {np_}."))

    def pair(self, gis: list[int], kinds: list[list[str]], values: dict[str, str]) -> str:
        """Two introductions in one sentence."""
        clauses = []
        for slot, (gi, ks) in enumerate(zip(gis, kinds)):
            g = self.scene.groups[gi]
            np_, plural = self.noun_phrase(slot, g, ks, values)
            if "count" in ks:
                self.count_stated.add(gi)
            if "region" in ks:
                values[f"l{slot}"] = self.pick(LOCATIONS[g.region])
                clauses.append(f"{np_} {self.pick(_PLURAL_VERBS if plural else _SINGULAR_VERBS)} <l{slot}>")
            else:
                clauses.append(f"{np_} {'are' if plural else 'is'} {self.presence_phrase(clauses)}")
        return clauses[0] + self.pick((", while ", ", and ", " and ")) + clauses[1] + "."

    def detail(self, gi: int, kinds: list[str], values: dict[str, str]) -> str:
        g = self.scene.groups[gi]
        singular = g.count == 1 and (gi in self.count_stated or "count" in kinds)
        values["s0"] = SHAPE_WORDS[g.shape][0 if singular else 1]
        be = "is" if singular else "are"
        preds = []
        for k in kinds:
            if k == "colour":
                values["c0"] = self.pick(COLOUR_WORDS[g.colour])
                options = [f"{be} <c0>", f"{be} coloured <c0>", f"{be} painted <c0>",
                           f"{'looks' if singular else 'look'} <c0>"]
                preds.append(self.pick(options if singular else [*options, "are all <c0>"]))
            elif k == "region":
                values["l0"] = self.pick(LOCATIONS[g.region])
                preds.append(self.pick((f"{'sits' if singular else 'sit'} <l0>", f"{be} placed <l0>",
                                        "can be found <l0>", f"{be} located <l0>")))
        rest = " and ".join(preds)
        if "count" in kinds:
            self.count_stated.add(gi)
            if g.count == 1:
                values["n0"] = self.pick(BARE_COUNT[1])
                head = self.pick(("There is only <n0> <s0>", "Just <n0> <s0> is drawn", "There is exactly <n0> <s0>"))
                return head + (f", and it {rest}." if rest else ".")
            if not rest:
                values["n0"] = self.pick(COUNT_WORDS[g.count] if self.rng.random() < 0.5 else BARE_COUNT[g.count])
                if values["n0"].startswith("a "):  # "a pair of" only reads well as "there are a pair of"
                    return "There are <n0> <s0> in total."
                return self.pick(("There are <n0> <s0> in total.", "The <s0> number <n0> altogether.",
                                  "Count the <s0> and you get <n0>.", "Exactly <n0> <s0> are drawn."))
            values["n0"] = self.pick(BARE_COUNT[g.count])
            return self.pick((f"There are <n0> <s0>, and they {rest}.", f"The <s0> {rest}, and there are <n0> of them."))
        sentence = f"the <s0> {rest}"
        return self.pick((sentence + ".", sentence + ".", f"Make sure that {sentence}.", f"Note that {sentence}."))


def make_prompt(scene: Scene, rng: random.Random) -> Prompt:
    """Write a prompt for ``scene``, recording each fact's sentence and character span."""
    n = len(scene.groups)
    verbosity = rng.random()  # one knob per prompt: more fillers and more detail sentences
    # terse prompts state a group in one sentence more often
    kinds = HOMES_FACT_KINDS if scene.layout == "homes" else FACT_KINDS
    parts = [partition(rng, kinds, 0.8 - 0.6 * verbosity) for _ in range(n)]
    plan = plan_groups(rng, parts, p_pair=0.3)
    lo, hi = HOMES_FILLERS if scene.layout == "homes" else (MIN_FILLERS, MAX_FILLERS)
    n_fill = max(lo, min(hi, round(verbosity * hi + rng.uniform(-1.5, 1.5))))
    for filler in rng.sample(range(len(FILLERS)), n_fill):
        plan.insert(rng.randint(0, len(plan)), Sentence("filler", [filler]))
    bg_at = 0 if rng.random() < 0.5 else rng.randint(1, len(plan))
    plan.insert(bg_at, Sentence("background"))

    flourishes = rng.sample(FLOURISHES, len(FLOURISHES))  # each decoration at most once per prompt
    realiser = _Realiser(scene, rng)
    sentences: list[str] = []
    facts: list[tuple[Fact, tuple[int, int]]] = []
    background_span = (0, 0)
    for si, s in enumerate(plan):
        values: dict[str, str] = {}
        if s.kind == "filler":
            sentences.append(FILLERS[s.groups[0]])
            continue
        if s.kind == "background":
            values["bg"] = rng.choice(COLOUR_WORDS[scene.background])
            values["bgw"] = rng.choice(BACKGROUND_NOUNS)
            text, spans = fill(rng.choice(BACKGROUND_TEMPLATES), values)
            background_span = _hull(spans["bg"], spans["bgw"])
            sentences.append(text)
            continue
        if s.kind == "pair":
            template = realiser.pair(s.groups, s.facts, values)
        elif s.kind == "intro":
            template = realiser.intro(s.groups[0], s.facts[0], values)
        else:
            template = realiser.detail(s.groups[0], s.facts[0], values)
        if s.kind != "pair" and flourishes and rng.random() < verbosity - 0.4:
            template = template[:-1] + flourishes.pop() + "."  # decoration only: no fact
        text, spans = fill(template, values)
        sentences.append(text)
        for slot, (gi, kinds) in enumerate(zip(s.groups, s.facts)):
            g = scene.groups[gi]
            noun = spans[f"s{slot}"]
            if s.kind in ("intro", "pair"):
                facts.append((Fact("presence", si, g.name), noun))
            for k in kinds:
                ftype = _FACT_TYPE[k]
                value = {"count": g.count, "colour": g.colour, "region": g.region}[k]
                facts.append((Fact(ftype, si, g.name, value), _hull(noun, spans[f"{_VALUE_FIELD[ftype]}{slot}"])))
    facts.sort(key=lambda fs: (fs[0].sentence, _TYPE_ORDER[fs[0].type], fs[1]))
    return Prompt(tuple(sentences), tuple(f for f, _ in facts), tuple(sp for _, sp in facts), bg_at,
                  background_span, tuple(i for i, s in enumerate(plan) if s.kind == "filler"))

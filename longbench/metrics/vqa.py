"""Question answering (``vqa``): a judge answers yes/no questions about each image (DSG, DPG-Bench, VQAScore).

Questions: the item's own (``questions`` in the suite, e.g. imported from DPG-Bench) or, for items without
them, questions generated from the item's facts by deterministic templates with DSG dependencies
(:mod:`longbench.judges.questions`); option ``questions`` = ``auto`` (default) / ``suite`` / ``facts``.

Judge (option ``judge``, see :mod:`longbench.judges`): ``synth`` (exact; synthetic suites declare it in their
``metric_args``), ``python:MODULE:FN``, or a transformers VLM by Hugging Face id or directory (default
``Salesforce/blip-vqa-base``). The judge's identity, weights revision/sha256, prompt template, dtype and
decoding go into the protocol.

Per image, with ``y_q`` = 1 when the answer is "yes" (option ``match``: ``normalized`` — the answer's first
word, case-insensitive — or ``exact`` — the raw text is exactly "yes", as DPG-Bench compares) and
``p_q = P(yes)/(P(yes)+P(no))`` of the first answer token (see :mod:`longbench.metrics.functional.vqa` for
the dependency rules):

* ``vqa-hard`` — mean over questions of ``y_q`` zeroed when any ancestor question was answered "no";
* ``vqa-soft`` — mean over questions of ``p_q`` times the ``p`` of every ancestor (NaN with a judge that
  gives no probabilities);
* ``vqa-hard@<=77`` / ``vqa-hard@>77`` (and ``vqa-soft@...``) — the same over the questions whose fact a
  77-position CLIP context reads / does not read: every token stating the fact is one of the first 75
  content tokens (the project's rule, ``longbench.worlds.tokens.fact_last_tokens``: the fact's character
  spans when the item records them, else its whole sentence); questions without a fact are in neither;
* ``vqa-hard:<category>`` — the same over the questions of one category (generated questions: their fact
  type; suite questions: their ``category``);
* ``vqa-neither`` (lower is better) — share of answers that are neither yes nor no; they count as "no"
  and the run's total is reported under ``reports.vqa`` in results.json.

An image may be a 2×2 grid (``pic_num`` tiles of ``resolution`` px, DPG-Bench's layout): every question is
asked of every tile and each per-image value is the mean over tiles. Run-level values are means over
images; CIs and length buckets come from the runner. Images whose item has no question score NaN (left
out of the means) and are counted in the report.

DPG-Bench columns (option ``dpg``: ``auto`` = on for suites imported from DPG-Bench): ``dpg`` — the
reference's per-image score ×100 (mean of the image scores = the "DPG-Bench score"), and ``dpg-l1:<L1>``,
``dpg-l2:<L2>`` — the reference's category scores ×100, pooled over every question of every image (no
per-image value, so no CI). ``dpg_compat=true`` adds the reference's two quirks: the question on the CSV's
first data row is not asked, and an image whose scoring then fails (a question depending on it: the
reference raises KeyError and silently drops the image) is left out of the DPG columns — longbench lists
each such image in ``reports.vqa.dpg_dropped`` instead of dropping it silently.

``samples.jsonl`` carries, per image, every question with the judge's answer(s), ``p_yes`` and scores
(``details.vqa``); ``per_segment()`` the mean hard score of the questions of each sentence.

Question selection: :mod:`longbench.metrics.vqa_questions`; DPG-Bench columns: :mod:`longbench.metrics.vqa_dpg`;
pure scoring: :mod:`longbench.metrics.functional.vqa`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from longbench.errors import LongbenchError
from longbench.judges.base import Judge, JudgeOptions, JudgeRequest, check_answers
from longbench.metrics.base import LongbenchMetric, MetricContext, cat_state
from longbench.metrics.functional import vqa as F
from longbench.metrics.functional.vqa import category_slug
from longbench.metrics.options import VQA_JUDGE, VQAOptions
from longbench.metrics.vqa_dpg import DPGColumns, is_dpg_item
from longbench.metrics.vqa_questions import (
    PreparedQuestions,
    QuestionSelector,
    answer_details,
    check_source,
    suite_categories,
)
from longbench.options import option_values, parse_bool

logger = logging.getLogger(__name__)

DEFAULT_JUDGE = VQA_JUDGE
SYNTH_JUDGE = "synth"
BASE_COLUMNS: dict[str, bool] = {
    "vqa-hard": True, "vqa-soft": True, "vqa-hard@<=77": True, "vqa-hard@>77": True,
    "vqa-soft@<=77": True, "vqa-soft@>77": True, "vqa-neither": False,
}
REPORT_EXAMPLES = 10
REPORT_COUNTS = ("yes", "no", "other", "images_without_questions", "dpg_dropped")


class VQAMetric(LongbenchMetric):
    """Judge-answered yes/no questions: hard and soft DSG scores, splits, categories, DPG-Bench columns.

    Args:
        judge: a judge spec (``synth``, ``python:MOD:FN``, ``transformers:ID|DIR``, an HF id or directory)
            or a :class:`~longbench.judges.base.Judge`.
        questions: ``auto`` (the item's own, else generated from facts), ``suite`` or ``facts``.
        categories: question categories with a ``vqa-hard:<category>`` column (default: the fact types).
        dpg: add the DPG-Bench columns.
        dpg_categories: the L2 categories of the DPG columns (L1 derived from them).
        dpg_compat: reproduce the reference's first-row skip and image drop (module docstring).
        match: ``normalized`` or ``exact`` (what counts as "yes").
        pic_num: tiles per image (1..4, DPG-Bench's 2×2 grid).
        resolution: tile side in pixels (default: the whole image for 1 tile, half the width for more).
        judge_options: options for building a judge from a spec.
    """

    name: ClassVar[str] = "vqa"
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = dict(BASE_COLUMNS)
    higher_is_better = True
    Options = VQAOptions
    full_state_update = False

    def __init__(self, judge: str | Judge = SYNTH_JUDGE, *, questions: str = "auto",
                 categories: Sequence[str] | None = None, dpg: bool = False,
                 dpg_categories: Sequence[str] | None = None, dpg_compat: bool = False, match: str = "normalized",
                 pic_num: int = 1, resolution: int | None = None, judge_options: JudgeOptions | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self._questions = QuestionSelector(questions)
        if match not in F.ANSWER_MATCHES:
            raise LongbenchError(f"vqa: match must be one of {', '.join(F.ANSWER_MATCHES)}, got {match!r}")
        F.dpg_tile_boxes(pic_num, resolution or 1)  # checks pic_num and resolution
        if dpg_compat and not dpg:
            raise LongbenchError("vqa: dpg_compat applies to the DPG-Bench columns; they are off (dpg=false)")
        self.question_source = questions
        self.match = match
        self.pic_num = int(pic_num)
        self.resolution = int(resolution) if resolution is not None else None
        self.dpg = bool(dpg)
        self.dpg_compat = bool(dpg_compat)
        if isinstance(judge, str):
            from longbench.judges.base import build_judge

            self.judge_spec = judge
            self.judge: Judge = build_judge(judge, judge_options or JudgeOptions())
        else:
            self.judge_spec = f"{type(judge).__module__}:{type(judge).__name__}"
            self.judge = judge
        from longbench.suites.base import FACT_TYPES

        cats = list(dict.fromkeys(categories if categories is not None else FACT_TYPES))
        self.categories = cats
        self._cat_column = {c: f"vqa-hard:{category_slug(c)}" for c in cats}
        cols = dict(BASE_COLUMNS)
        for col in self._cat_column.values():
            cols[col] = True
        self.sample_columns = list(cols)
        self._dpg = DPGColumns(dpg_categories, dpg_compat) if self.dpg else None
        if self._dpg is not None:
            cols["dpg"] = True
            self.sample_columns.append("dpg")
            cols.update(self._dpg.columns())
        self.columns = cols  # the instance's columns (categories depend on the suite)
        self.add_state("values", default=[], dist_reduce_fx="cat")  # (images, sample columns) float64
        self.add_state("segment_scores", default=[], dist_reduce_fx="cat")
        self.add_state("segment_counts", default=[], dist_reduce_fx="cat")
        self.add_state("dpg_cat", default=[], dist_reduce_fx="cat")  # L2 index per DPG question record
        self.add_state("dpg_cat_score", default=[], dist_reduce_fx="cat")
        self.add_state("dpg_cat_counts", default=[], dist_reduce_fx="cat")  # records per image
        # yes / no / neither answers, images without questions, images the DPG reference would drop: summed
        # states, so the report's counts survive a distributed sync (its examples are the local process's)
        self.add_state("report_counts", default=torch.zeros(len(REPORT_COUNTS), dtype=torch.float64),
                       dist_reduce_fx="sum")
        self._details: list[dict[str, Any]] = []  # per image, for samples.jsonl (main process only)
        self._report = self._empty_report()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_context(cls, ctx: MetricContext, options: VQAOptions) -> VQAMetric:
        """Categories and the DPG columns are fixed over the whole suite, so ``--limit`` does not change
        which columns a run has."""
        suite = ctx.suite
        items = list(suite.items) if suite is not None else []
        if options.dpg.strip().lower() == "auto":
            dpg = any(is_dpg_item(it) for it in items)
        else:
            try:
                dpg = parse_bool(options.dpg)
            except ValueError:
                raise LongbenchError(f"vqa: dpg must be auto, true or false, got {options.dpg!r}") from None
        categories = suite_categories(items, check_source(options.questions))
        values = option_values(options)
        jo = JudgeOptions(**{k: values[k] for k in option_values(JudgeOptions())})
        jo.device = options.device or ctx.device
        # A suite that needs another judge declares it (synthetic suites: ``metric_args`` vqa.judge=synth).
        return cls(options.judge or DEFAULT_JUDGE, questions=options.questions, match=options.match,
                   pic_num=options.pic_num, resolution=options.resolution, dpg_compat=options.dpg_compat, categories=categories, dpg=dpg,
                   dpg_categories=categories if dpg else None, judge_options=jo, **ctx.metric_kwargs)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        """For ``longbench doctor``: whether the default judge resolves offline (synth suites need none)."""
        from longbench.metrics.weights_status import vqa

        return vqa()

    # ------------------------------------------------------------------ scoring
    def tiles(self, image: Any) -> list[Any]:
        """The images the judge is shown: the whole image, or ``pic_num`` tiles of a 2×2 grid."""
        from longbench.images import to_rgb

        im = to_rgb(image, where="vqa image")
        if self.pic_num == 1 and self.resolution is None:
            return [im]
        res = self.resolution or im.size[0] // 2
        if res < 1:
            raise LongbenchError(f"vqa: image of {im.size[0]}x{im.size[1]} px is too small for {self.pic_num} tiles")
        return [im.crop(box) for box in F.dpg_tile_boxes(self.pic_num, res)]

    @torch.no_grad()
    def update(self, images: Sequence[Any], items: Sequence[Any]) -> None:
        if len(images) != len(items):
            raise LongbenchError(f"vqa: {len(images)} images but {len(items)} items")
        if not len(images):
            return
        prepared = [self._questions.prepare(it) for it in items]
        tiles = [self.tiles(im) for im in images]
        requests, owner = [], []
        for k, (item, pq, ts) in enumerate(zip(items, prepared, tiles)):
            if pq.questions:
                for t in ts:
                    requests.append(JudgeRequest(t, tuple(pq.questions), None if isinstance(item, str) else item))
                    owner.append(k)
        answers = check_answers(self.judge_spec, requests, self.judge.answer(requests)) if requests else []
        per_image: list[list[list[Any]]] = [[] for _ in images]
        for k, a in zip(owner, answers):
            per_image[k].append(a)
        rows, seg_scores, seg_counts = [], [], []
        cat_idx, cat_score, cat_counts = [], [], []
        for item, pq, tile_answers in zip(items, prepared, per_image):
            row, segs, cats = self._score_image(item, pq, tile_answers)
            rows.append(row)
            seg_scores += segs
            seg_counts.append(len(segs))
            cat_idx += [c for c, _ in cats]
            cat_score += [s for _, s in cats]
            cat_counts.append(len(cats))
        self.values.append(torch.tensor(rows, dtype=torch.float64).reshape(len(rows), len(self.sample_columns)))
        self.segment_scores.append(torch.tensor(seg_scores, dtype=torch.float64))
        self.segment_counts.append(torch.tensor(seg_counts, dtype=torch.long))
        self.dpg_cat.append(torch.tensor(cat_idx, dtype=torch.long))
        self.dpg_cat_score.append(torch.tensor(cat_score, dtype=torch.float64))
        self.dpg_cat_counts.append(torch.tensor(cat_counts, dtype=torch.long))

    def _score_image(self, item: Any, pq: PreparedQuestions, tile_answers: list[list[Any]]
                     ) -> tuple[list[float], list[float], list[tuple[int, float]]]:
        """One image: its sample-column values, per-sentence scores and DPG category records."""
        from longbench.worlds.tokens import visible

        item_id = item if isinstance(item, str) else item.id
        qs, parents, last_tokens, n_sent = pq.questions, pq.parents, pq.last_tokens, pq.n_sentences
        values = dict.fromkeys(self.sample_columns, math.nan)
        if not qs:
            self._count("images_without_questions")
            if len(self._report["examples_without_questions"]) < REPORT_EXAMPLES:
                self._report["examples_without_questions"].append(item_id)
            self._details.append({"questions": []})
            return [values[c] for c in self.sample_columns], [math.nan] * n_sent, []
        inside = [s is not None and visible(s) for s in last_tokens]
        beyond = [s is not None and not visible(s) for s in last_tokens]
        question_info = {"inside": inside, "beyond": beyond, "categories": [q.category for q in qs],
                         "sentences": [q.fact.sentence if q.fact is not None else None for q in qs],
                         "category_names": list(self._cat_column), "n_sentences": n_sent}
        tile_values: list[dict[str, float]] = []
        kinds_t, hard_t, soft_t = [], [], []
        for answers in tile_answers:
            kinds = [F.answer_kind(a.text, self.match) for a in answers]
            p = [math.nan if a.p_yes is None else float(a.p_yes) for a in answers]
            hard, soft, tile = F.tile_scores(kinds, p, parents, **question_info)
            kinds_t.append(kinds)
            hard_t.append(hard)
            soft_t.append(soft)
            tile_values.append(tile)
            for q, kind, a in zip(qs, kinds, answers):
                self._count(kind)
                if kind == "other" and len(self._report["neither_examples"]) < REPORT_EXAMPLES:
                    self._report["neither_examples"].append({"item_id": item_id, "question": q.id, "answer": a.text})
        soft_known = all(not math.isnan(v) for v in soft_t[0])
        image = F.mean_over_tiles(tile_values, soft_known=soft_known)
        for col in BASE_COLUMNS:
            values[col] = image[col]
        for cat, col in self._cat_column.items():
            values[col] = image[f"category:{cat}"]
        cats: list[tuple[int, float]] = []
        if self._dpg is not None:
            values["dpg"], cats, dropped = self._dpg.image(item_id, item, qs, kinds_t)
            if dropped is not None:
                self._count("dpg_dropped")
                self._report["dpg_dropped"].append({"item_id": item_id, "reason": dropped})
        segs = [image[f"sentence:{si}"] for si in range(n_sent)]
        self._details.append(answer_details(qs, tile_answers, kinds_t, hard_t, soft_t, soft_known))
        return [values[c] for c in self.sample_columns], segs, cats

    # ------------------------------------------------------------------ results
    def _matrix(self) -> torch.Tensor:
        v = self.values
        if isinstance(v, torch.Tensor):
            return v.reshape(-1, len(self.sample_columns))
        return torch.cat(v) if v else torch.zeros(0, len(self.sample_columns), dtype=torch.float64)

    def per_sample(self) -> dict[str, list[float]]:
        m = self._matrix()
        return {col: m[:, k].tolist() for k, col in enumerate(self.sample_columns)}

    def _pooled(self, select: torch.Tensor | None = None) -> dict[str, float]:
        """DPG category columns pooled over the question records of the selected images."""
        if self._dpg is None:
            return {}
        idx = cat_state(self.dpg_cat, torch.zeros(0, dtype=torch.long))
        score = cat_state(self.dpg_cat_score, torch.zeros(0, dtype=torch.float64))
        if select is not None:
            counts = cat_state(self.dpg_cat_counts, torch.zeros(0, dtype=torch.long))
            owner = torch.repeat_interleave(torch.arange(counts.numel()), counts)
            keep = select[owner] if owner.numel() else torch.zeros(0, dtype=torch.bool)
            idx, score = idx[keep], score[keep]
        return self._dpg.pooled(idx.tolist(), score.tolist())

    def compute(self) -> dict[str, float]:
        out = {}
        m = self._matrix()
        for k, col in enumerate(self.sample_columns):
            v = m[:, k]
            v = v[~torch.isnan(v)]
            out[col] = float(v.mean()) if v.numel() else math.nan
        out.update(self._pooled())
        return out

    def compute_groups(self, groups: Sequence[str]) -> dict[str, dict[str, float]]:
        if not self.dpg:
            return {}
        labels = list(groups)
        return {g: self._pooled(torch.tensor([x == g for x in labels], dtype=torch.bool))
                for g in sorted(set(labels))}

    def per_segment(self) -> list[list[float]] | None:
        from longbench.metrics.base import split_flat

        return split_flat(self.segment_scores, self.segment_counts)

    def per_sample_details(self) -> list[dict[str, Any]]:
        """Per image (update order): each question with the judge's answer(s), p_yes and scores."""
        return list(self._details)

    def _count(self, key: str) -> None:
        self.report_counts[REPORT_COUNTS.index(key)] += 1

    def report(self) -> dict[str, Any]:
        """Run-level facts a reader must know: answer counts (neither yes nor no counts as no, ``other``),
        images without questions, and (``dpg_compat``) the images the reference would have dropped — counts
        over every process; the examples (first few) and the dropped images' list from this process."""
        counts = dict(zip(REPORT_COUNTS, (int(c) for c in self.report_counts.tolist())))
        r: dict[str, Any] = {"answers": {k: counts[k] for k in ("yes", "no", "other")},
                             "neither_examples": list(self._report["neither_examples"]),
                             "images_without_questions": counts["images_without_questions"],
                             "examples_without_questions": list(self._report["examples_without_questions"])}
        if self.dpg_compat:
            r["dpg_dropped_count"] = counts["dpg_dropped"]
            r["dpg_dropped"] = list(self._report["dpg_dropped"])
        return r

    def reset(self) -> None:
        super().reset()
        self._details = []
        self._report = self._empty_report()

    @staticmethod
    def _empty_report() -> dict[str, list[Any]]:
        return {"neither_examples": [], "examples_without_questions": [], "dpg_dropped": []}

    def protocol(self) -> dict[str, Any]:
        from longbench.judges.questions import QUESTIONS_VERSION

        out: dict[str, Any] = {
            "name": self.name, "version": self.version, "judge_spec": self.judge_spec, "judge": self.judge.protocol(),
            "questions": {"source": self.question_source, "generator_version": QUESTIONS_VERSION,
                          "generated": "one per fact, DSG dependencies on entity presence "
                                       "(longbench.judges.questions)"},
            "answer_match": {"normalized": "first word of the answer, case-insensitive, is 'yes'",
                             "exact": "the answer text is exactly 'yes'"}[self.match],
            "neither": "an answer that is neither yes nor no counts as no",
            "hard": "mean over questions of yes(q) * prod over ancestors yes(a)",
            "soft": "mean over questions of p(q) * prod over ancestors p(a), p = P(yes)/(P(yes)+P(no)) of the "
                    "first answer token",
            "split": "the last token stating the question's fact is content token < 75 (within 77 positions: "
                     "start, 75 content, end) or not; spans when recorded, else the fact's sentence",
            "tiles": {"pic_num": self.pic_num, "resolution": self.resolution,
                      "layout": "2x2 grid, left to right then top to bottom; mean over tiles"},
        }
        if self._dpg is not None:
            out["dpg"] = self._dpg.protocol()
        return out

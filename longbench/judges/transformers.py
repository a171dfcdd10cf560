"""``transformers:ID|DIR`` — a local transformers vision-language model as the judge.

Two families, chosen from the checkpoint's config:

* **BLIP question answering** (``BlipForQuestionAnswering``, e.g. ``Salesforce/blip-vqa-base``): the
  question (``prompt`` template, default ``"{question}"``) is encoded with the image by BLIP's text encoder
  and the answer is decoded greedily by its text decoder.
* **Chat VLMs** through ``AutoModelForImageTextToText`` (Qwen2-VL / Qwen2.5-VL, LLaVA(-NeXT), PaliGemma,
  Idefics, BLIP-2 ...): one user turn holding the image and the question (``prompt`` template, default
  ``"{question} Answer yes or no."``) rendered with the processor's chat template and a generation prompt;
  a processor without a chat template gets the template text as is (default ``"Question: {question}
  Answer:"``, BLIP-2's format). The answer is decoded greedily.

Soft score (VQAScore-style, on the first answer token): ``P(yes) / (P(yes) + P(no))`` where ``P(yes)`` is
the softmax probability, at the first generated position, summed over the tokenizer's single tokens for
"yes" — each of ``yes``, ``Yes``, ``YES``, `` yes``, `` Yes``, `` YES`` that the tokenizer encodes as one
token whose text, stripped and lower-cased, is "yes" (with and without the leading-space variant of BPE /
SentencePiece vocabularies; one id for BERT's uncased vocabulary) — and likewise for "no". The ratio
equals ``sigmoid(logsumexp(logits[yes]) − logsumexp(logits[no]))``; the rest of the vocabulary cancels.
A tokenizer without a single-token "yes" or "no" is refused when the judge loads.

Fast path (the default): all questions of all images of a batch are asked together, up to ``batch_size``
per forward, and each image is encoded once. Questions are batched with others of the same token length
(and, for chat VLMs, images of the same size), so no prompt is ever padded: each answer is computed as
for the question asked alone (padding would change it — e.g. transformers 5's BLIP text decoder ignores
the mask of a padded question), up to floating-point summation order. BLIP: the vision encoder runs once
per image and its embeddings are repeated for each question. Chat VLMs: the vision tower runs once per
image and its features are handed to ``generate`` as ``mm_encoder_outputs`` (transformers ≥ 5); a model
that does not take them re-encodes the image for each question (same answers, slower; the protocol says
which). ``one_at_a_time`` asks every (image, question) pair with its own call of the model's own
``generate`` — the reference the fast path is tested against.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from longbench.errors import LongbenchError, MissingWeightsError, first_line
from longbench.judges.base import Answer, Judge, JudgeOptions, JudgeRequest

logger = logging.getLogger(__name__)

BLIP_PROMPT = "{question}"
CHAT_PROMPT = "{question} Answer yes or no."
PLAIN_PROMPT = "Question: {question} Answer:"  # image-text-to-text models without a chat template (BLIP-2)
_SURFACES = {"yes": ("yes", "Yes", "YES", " yes", " Yes", " YES"), "no": ("no", "No", "NO", " no", " No", " NO")}


def yes_no_token_ids(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Single-token ids of "yes" and of "no" (module docstring); a LongbenchError when either has none."""
    out: dict[str, list[int]] = {}
    for word, surfaces in _SURFACES.items():
        ids: list[int] = []
        for s in surfaces:
            enc = tokenizer.encode(s, add_special_tokens=False)
            if len(enc) == 1 and enc[0] not in ids and tokenizer.decode(enc).strip().lower() == word:
                ids.append(int(enc[0]))
        if not ids:
            raise LongbenchError(f"vqa judge: the tokenizer has no single token for {word!r}, so the soft score "
                                 f"P(yes)/(P(yes)+P(no)) of the first answer token is undefined")
        out[word] = sorted(ids)
    return out["yes"], out["no"]


def soft_from_logits(logits: torch.Tensor, yes_ids: Sequence[int], no_ids: Sequence[int]) -> list[float]:
    """``P(yes) / (P(yes) + P(no))`` per row of first-step logits (B, V), in float64."""
    x = logits.double()
    yes = torch.logsumexp(x[:, list(yes_ids)], dim=-1)
    no = torch.logsumexp(x[:, list(no_ids)], dim=-1)
    return torch.sigmoid(yes - no).tolist()


def _dtype_kwarg(dtype: torch.dtype) -> dict[str, Any]:
    """transformers' ``from_pretrained`` dtype keyword: ``dtype`` since 4.56, ``torch_dtype`` before."""
    import transformers
    from packaging.version import Version

    return {"dtype": dtype} if Version(transformers.__version__) >= Version("4.56") else {"torch_dtype": dtype}


class TransformersJudge(Judge):
    """Common loading, decoding options and protocol of transformers judges; ``from_spec`` picks the family."""

    kind: ClassVar[str] = "transformers"
    family: ClassVar[str] = ""
    default_prompt: ClassVar[str] = CHAT_PROMPT

    def __init__(self, model: Any, processor: Any, options: JudgeOptions, identity: dict[str, Any] | None = None):
        self.model = model.eval().requires_grad_(False)
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.options = options
        self.prompt = options.prompt or self.default_prompt
        self.identity = dict(identity or {})
        self.yes_ids, self.no_ids = yes_no_token_ids(self.tokenizer)
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype

    @classmethod
    def from_spec(cls, arg: str, options: JudgeOptions) -> TransformersJudge:
        return load_transformers_judge(arg, options)

    # -- shared helpers --------------------------------------------------------------------------
    def _decoding(self) -> dict[str, Any]:
        return {"strategy": "greedy", "do_sample": False, "num_beams": 1, "max_new_tokens": self.options.max_new_tokens}

    def _generate_kwargs(self) -> dict[str, Any]:
        return {"max_new_tokens": self.options.max_new_tokens, "do_sample": False, "num_beams": 1,
                "output_logits": True, "return_dict_in_generate": True}

    def _to_device(self, batch: Any) -> dict[str, Any]:
        out = {}
        for k, v in dict(batch).items():
            if isinstance(v, torch.Tensor):
                v = v.to(self.device)
                if v.is_floating_point():
                    v = v.to(self.dtype)
            out[k] = v
        return out

    def _answers(self, out: Any) -> list[Answer]:
        """Decoded new tokens and soft scores of one ``generate`` output (``return_dict_in_generate``)."""
        n_new = len(out.logits)
        texts = self.tokenizer.batch_decode(out.sequences[:, out.sequences.shape[1] - n_new:],
                                            skip_special_tokens=True)
        soft = soft_from_logits(out.logits[0], self.yes_ids, self.no_ids)
        return [Answer(t.strip(), p) for t, p in zip(texts, soft)]

    @staticmethod
    def _pairs(requests: Sequence[JudgeRequest]) -> list[tuple[int, int]]:
        return [(i, j) for i, r in enumerate(requests) for j in range(len(r.questions))]

    def _groups(self, keys: Sequence[Any]) -> list[list[int]]:
        """Indices of equal ``keys`` (what fixes a prompt's length), in chunks of at most ``batch_size``."""
        by_key: dict[Any, list[int]] = {}
        for k, key in enumerate(keys):
            by_key.setdefault(key, []).append(k)
        bs = self.options.batch_size
        return [idx[a:a + bs] for idx in by_key.values() for a in range(0, len(idx), bs)]

    def _assemble(self, requests: Sequence[JudgeRequest], pairs: Sequence[tuple[int, int]],
                  answers: Sequence[Answer | None]) -> list[list[Answer]]:
        out: list[list[Answer]] = [[] for _ in requests]
        for (i, _), a in zip(pairs, answers):
            assert a is not None  # every pair belongs to exactly one group
            out[i].append(a)
        return out

    def answer(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        from longbench.images import to_rgb

        requests = [JudgeRequest(to_rgb(r.image, where="vqa judge image"), r.questions, r.item) for r in requests]
        if self.options.one_at_a_time:
            return self.answer_one_at_a_time(requests)
        return self.answer_batched(requests)

    @abstractmethod
    def answer_batched(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        """Answers with each image encoded once and its questions batched (the fast path)."""

    @abstractmethod
    def answer_one_at_a_time(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        """Answers one (image, question) at a time, as the reference loops do (``one_at_a_time=true``)."""

    def protocol(self) -> dict[str, Any]:
        def tok(ids: Sequence[int]) -> list[str]:
            return [self.tokenizer.convert_ids_to_tokens(i) for i in ids]

        gen = getattr(self.model, "generation_config", None)
        return {"kind": self.kind, "family": self.family, **self.identity, "model_class": type(self.model).__name__,
                "dtype": str(self.dtype).removeprefix("torch."), "prompt_template": self.prompt,
                "decoding": self._decoding(),
                "generation_config": gen.to_diff_dict() if gen is not None else None,
                "yes_tokens": tok(self.yes_ids), "no_tokens": tok(self.no_ids),
                "soft": "P(yes)/(P(yes)+P(no)) of the first generated token, summed over the yes/no token variants",
                "batching": "one (image, question) per generate call" if self.options.one_at_a_time
                else f"up to {self.options.batch_size} questions of equal prompt length per forward "
                "(no padding), each image encoded once"}


class BlipVQAJudge(TransformersJudge):
    """BLIP question answering (``BlipForQuestionAnswering``)."""

    family: ClassVar[str] = "blip-vqa"
    default_prompt: ClassVar[str] = BLIP_PROMPT

    def _texts(self, requests: Sequence[JudgeRequest], pairs: Sequence[tuple[int, int]]) -> list[str]:
        return [self.prompt.format(question=requests[i].questions[j].text) for i, j in pairs]

    @torch.no_grad()
    def answer_batched(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        m = self.model
        bs = self.options.batch_size
        pairs = self._pairs(requests)
        if not pairs:
            return [[] for _ in requests]
        asked = sorted({i for i, _ in pairs})
        slot = {i: k for k, i in enumerate(asked)}
        embeds = []
        for a in range(0, len(asked), bs):  # the vision encoder: once per image
            pix = self.processor.image_processor([requests[i].image for i in asked[a:a + bs]], return_tensors="pt")
            embeds.append(m.vision_model(pixel_values=self._to_device(pix)["pixel_values"])[0])
        image_embeds = torch.cat(embeds)
        texts = self._texts(requests, pairs)
        lengths = [len(ids) for ids in self.tokenizer(texts)["input_ids"]]
        answers: list[Answer | None] = [None] * len(pairs)
        for group in self._groups(lengths):
            tok = self._to_device(self.tokenizer([texts[k] for k in group], return_tensors="pt"))
            emb = image_embeds[torch.tensor([slot[pairs[k][0]] for k in group], device=image_embeds.device)]
            question = m.text_encoder(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"],
                                      encoder_hidden_states=emb,
                                      encoder_attention_mask=torch.ones(emb.shape[:-1], dtype=torch.long,
                                                                        device=emb.device), return_dict=False)[0]
            bos = torch.full((len(group), 1), m.decoder_start_token_id, dtype=torch.long, device=question.device)
            out = m.text_decoder.generate(input_ids=bos, eos_token_id=m.config.text_config.sep_token_id,
                                          pad_token_id=m.config.text_config.pad_token_id,
                                          encoder_hidden_states=question,
                                          encoder_attention_mask=torch.ones(question.shape[:-1], dtype=torch.long,
                                                                            device=question.device),
                                          **self._generate_kwargs())
            for k, ans in zip(group, self._answers(out)):
                answers[k] = ans
        return self._assemble(requests, pairs, answers)

    @torch.no_grad()
    def answer_one_at_a_time(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        pairs = self._pairs(requests)
        answers = []
        for (i, _), text in zip(pairs, self._texts(requests, pairs)):
            inputs = self._to_device(self.processor(images=requests[i].image, text=text, return_tensors="pt"))
            answers += self._answers(self.model.generate(**inputs, **self._generate_kwargs()))
        return self._assemble(requests, pairs, answers)

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out["image_encoding"] = "vision encoder once per image, embeddings repeated per question"
        return out


class ChatVLMJudge(TransformersJudge):
    """A chat VLM through ``AutoModelForImageTextToText`` and its processor's chat template."""

    family: ClassVar[str] = "image-text-to-text"
    default_prompt: ClassVar[str] = CHAT_PROMPT

    def __init__(self, model: Any, processor: Any, options: JudgeOptions, identity: dict[str, Any] | None = None):
        super().__init__(model, processor, options, identity)
        if not hasattr(processor, "image_processor"):
            raise LongbenchError(f"vqa judge {self.identity.get('model')!r}: the processor has no image processor")
        self.tokenizer.padding_side = "left"  # batched generation of a decoder: prompts end where answers start
        self.chat_template = getattr(processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        if options.prompt is None and not self.chat_template:
            self.prompt = PLAIN_PROMPT
        self.reuse_features = bool(getattr(model, "_supports_mm_encoder_outputs", lambda: False)())
        self.features_reused = False  # set once the fast path has handed image features to generate

    def text(self, question: str) -> str:
        prompt = self.prompt.format(question=question)
        if not self.chat_template:
            return prompt
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _image_features(self, images: Sequence[Any]) -> tuple[list[Any], type] | None:
        """Per image, the vision tower's output features (``pooler_output`` of ``get_image_features``) and the
        container the model expects them in (a stacked tensor, a list or a tuple); None when this model's
        output cannot be split per image."""
        base = self.model.base_model if hasattr(self.model, "base_model") else self.model
        fn = getattr(base, "get_image_features", None) or getattr(self.model, "get_image_features", None)
        if fn is None:
            return None
        pix = self._to_device(self.processor.image_processor(list(images), return_tensors="pt"))
        params = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in pix.items() if k in params}
        if "return_dict" in params:
            kwargs["return_dict"] = True
        feats = getattr(fn(**kwargs), "pooler_output", None)
        if isinstance(feats, torch.Tensor) and feats.shape[0] == len(images):
            return list(feats.unbind(0)), torch.Tensor
        if isinstance(feats, (list, tuple)) and len(feats) == len(images):
            return list(feats), type(feats)
        return None

    @torch.no_grad()
    def answer_batched(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        pairs = self._pairs(requests)
        texts = [self.text(requests[i].questions[j].text) for i, j in pairs]
        # Equal text length and image size give equal prompt lengths once the image tokens are expanded.
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        keys = [(n, requests[i].image.size) for n, (i, _) in zip(lengths, pairs)]
        answers: list[Answer | None] = [None] * len(pairs)
        for group in self._groups(keys):
            owners = [pairs[k][0] for k in group]
            inputs = self._to_device(self.processor(text=[texts[k] for k in group],
                                                    images=[requests[i].image for i in owners],
                                                    padding=True, return_tensors="pt"))
            encoded = self._image_features([requests[i].image for i in sorted(set(owners))]) \
                if self.reuse_features else None
            if encoded is not None:
                per_image, container = encoded
                slot = {i: k for k, i in enumerate(sorted(set(owners)))}
                feats = [per_image[slot[i]] for i in owners]  # the same tensors, referenced once per question
                pooled = torch.stack(feats) if container is torch.Tensor else container(feats)
                for key in [k for k in inputs if k.startswith("pixel_values")]:
                    inputs.pop(key)
                inputs["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=pooled)}
                self.features_reused = True
            for k, ans in zip(group, self._answers(self.model.generate(**inputs, **self._generate_kwargs()))):
                answers[k] = ans
        return self._assemble(requests, pairs, answers)

    @torch.no_grad()
    def answer_one_at_a_time(self, requests: Sequence[JudgeRequest]) -> list[list[Answer]]:
        pairs = self._pairs(requests)
        answers = []
        for i, j in pairs:
            text = self.text(requests[i].questions[j].text)
            inputs = self._to_device(self.processor(text=[text], images=[requests[i].image], return_tensors="pt"))
            answers += self._answers(self.model.generate(**inputs, **self._generate_kwargs()))
        return self._assemble(requests, pairs, answers)

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out["chat_template_sha256"] = (hashlib.sha256(self.chat_template.encode("utf-8")).hexdigest()
                                       if self.chat_template else None)
        out["message"] = ("one user turn: image then the prompt, chat template with the generation prompt"
                          if self.chat_template else "the prompt template as is (no chat template)")
        if not self.options.one_at_a_time:
            out["image_encoding"] = ("vision tower once per image (mm_encoder_outputs)" if self.features_reused
                                     else "vision tower once per question (this model takes no pre-encoded features)")
        return out


def load_transformers_judge(spec: str, options: JudgeOptions) -> TransformersJudge:
    """Load a transformers judge offline (HF id in the cache, optionally at ``options.revision``, or a local
    directory) and pick its family from the config.

    Raises:
        MissingWeightsError: the weights, or their processor, are not available offline.
        LongbenchError: a checkpoint that does not fill its model, or a tokenizer without yes/no tokens.
    """
    from transformers import AutoConfig, AutoProcessor

    from longbench.devices import torch_dtype
    from longbench.weights import from_pretrained_strict, resolve, weights_identity

    spec = spec.strip()
    if not spec:
        raise LongbenchError("vqa: transformers judge needs a Hugging Face id or a directory (transformers:ID|DIR)")
    what = "vqa judge"
    path = resolve(spec, what=what, revision=options.revision)
    dtype = torch_dtype(options.dtype)
    trust = options.trust_remote_code
    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True, trust_remote_code=trust)
    except (OSError, ValueError) as e:
        raise MissingWeightsError(f"{what} {spec!r}: no loadable config in {path} ({first_line(e)})") from None
    archs = list(getattr(config, "architectures", None) or [])
    blip = "BlipForQuestionAnswering" in archs
    if blip:
        from transformers import BlipForQuestionAnswering as model_cls
    else:
        from transformers import AutoModelForImageTextToText as model_cls
    try:
        model = from_pretrained_strict(model_cls, path, what=f"{what} {spec!r}", local_files_only=True,
                                       trust_remote_code=trust, **_dtype_kwarg(dtype))
    except (OSError, ValueError) as e:
        raise MissingWeightsError(f"{what} {spec!r}: cannot load {model_cls.__name__} weights from {path} "
                                  f"({first_line(e)})") from None
    proc_spec = options.processor or spec
    proc_path = path if options.processor is None else resolve(proc_spec, what=f"{what} processor")
    try:
        processor = AutoProcessor.from_pretrained(str(proc_path), local_files_only=True, trust_remote_code=trust)
    except (OSError, ValueError, TypeError) as e:
        raise MissingWeightsError(f"{what} processor {proc_spec!r}: cannot load from {proc_path} "
                                  f"({first_line(e)})") from None
    model = model.to(options.device)
    identity = {"model": spec, **weights_identity(path), "processor": proc_spec}
    if options.revision:
        identity["requested_revision"] = options.revision
    cls = BlipVQAJudge if blip else ChatVLMJudge
    return cls(model, processor, options, identity)

"""Tiny random-weight models built from configs, for tests, benchmarks and offline smoke runs.

They use the real CLIP tokenizer, so everything downstream (segmenting, padding, truncation) is real;
only the weights are random.
"""

from __future__ import annotations

from typing import Any


def tiny_text_encoder(seed: int = 0, hidden: int = 32, layers: int = 2) -> Any:
    """A CLIPTextModel with the full CLIP vocabulary and 77 positions."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
                         pad_token_id=49407)
    return CLIPTextModel(cfg).eval()


def tiny_sd_pipeline(seed: int = 0, sample_size: int = 8) -> Any:
    """A StableDiffusionPipeline: UNet (32, 64) on ``sample_size``² latents, a 2-block VAE (×2 upsampling),
    a 2-layer CLIP text encoder (hidden 32) and DDIM."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    from longbench.text.tokenizer import load_clip_tokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=sample_size, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=32)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), block_out_channels=(32, 32), latent_channels=4,
        layers_per_block=1, norm_num_groups=32, sample_size=2 * sample_size)
    text_encoder = tiny_text_encoder(seed)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=load_clip_tokenizer(),
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


# ---------------------------------------------------------------------- question-answering judges
#: Words of the generated questions (longbench.judges.questions) and of the synthetic world: the tiny
#: judges' vocabulary (other words become [UNK] / byte pieces; the weights are random anyway).
JUDGE_WORDS = [
    "yes", "no", "is", "are", "there", "a", "an", "the", "exactly", "one", "two", "three", "four", "five",
    "of", "in", "on", "at", "top", "bottom", "left", "right", "center", "middle", "image", "text", "written",
    "show", "style", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "white", "gray",
    "black", "circle", "circles", "square", "squares", "triangle", "triangles", "diamond", "diamonds", "star",
    "stars", "cross", "crosses", "small", "large", "cat", "cats", "dog", "dogs", "answer", "or",
]


def save_tiny_blip_vqa(out_dir: Any, seed: int = 0) -> Any:
    """A random-weight ``BlipForQuestionAnswering`` (hidden 32, 2+2+2 layers, 32 px images) with a BERT word
    vocabulary of ``JUDGE_WORDS``, saved with its processor to ``out_dir`` (returned as a Path)."""
    from pathlib import Path

    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForQuestionAnswering,
        BlipImageProcessor,
        BlipProcessor,
    )

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *JUDGE_WORDS]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, bos_token="[DEC]")
    torch.manual_seed(seed)
    config = BlipConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "intermediate_size": 64, "max_position_embeddings": 64, "bos_token_id": vocab.index("[DEC]"),
                     "sep_token_id": vocab.index("[SEP]"), "pad_token_id": 0, "encoder_hidden_size": 32},
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "intermediate_size": 64})
    model = BlipForQuestionAnswering(config).eval()
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer)
    out = Path(out_dir)
    model.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    return out


#: A minimal chat template with Qwen2-VL's special tokens: one turn per message, an image placeholder
#: where the message has an image, and the assistant header as the generation prompt.
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def save_tiny_qwen2_vl(out_dir: Any, seed: int = 0) -> Any:
    """A random-weight ``Qwen2VLForConditionalGeneration`` (hidden 32, 2 text layers, 1 vision block, images
    resized to 56×56 px = 4 image tokens) with a byte-level BPE tokenizer trained on ``JUDGE_WORDS`` and the
    chat-template words, a Qwen2-VL processor and :data:`TINY_CHAT_TEMPLATE`; saved to ``out_dir``."""
    from pathlib import Path

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        Qwen2TokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
               "<|video_pad|>"]
    words = JUDGE_WORDS + ["user", "assistant", "system"]
    # Each word alone and after a space, lower-case and capitalised, so "yes", "Yes", " yes" ... are tokens.
    corpus = [form for w in words for form in (w, " " + w, w.capitalize(), " " + w.capitalize())] * 4
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=1000, special_tokens=special, show_progress=False,
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = Qwen2TokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, bos_token=None)
    side = 56 * 56
    image_processor = Qwen2VLImageProcessor(min_pixels=side, max_pixels=side, patch_size=14, merge_size=2,
                                            temporal_patch_size=2)
    processor = Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 video_processor=Qwen2VLVideoProcessor(), chat_template=TINY_CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in special}
    torch.manual_seed(seed)
    config = Qwen2VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 512,
                     "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}, "tie_word_embeddings": False,
                     "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
                     "pad_token_id": ids["<|endoftext|>"]},
        vision_config={"depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2, "patch_size": 14,
                       "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    model = Qwen2VLForConditionalGeneration(config).eval()
    out = Path(out_dir)
    model.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    return out


# ---------------------------------------------------------------------- image captioners (caption-match)
#: Words the tiny captioner knows besides :data:`JUDGE_WORDS` (the caption prefix, punctuation and some scene
#: words); others become [UNK] (the weights are random anyway).
CAPTION_WORDS = [
    "photography", ".", ",", ";", ":", "?", "!", "with", "and", "sits", "stands", "snow", "sky", "light", "boat",
    "lake", "water", "very", "calm", "city", "night", "rain", "road", "bowl", "fruit", "table", "window",
]


def save_tiny_blip_captioner(out_dir: Any, seed: int = 0, max_length: int = 40, image_size: int = 32) -> Any:
    """A random-weight ``BlipForConditionalGeneration`` (hidden 32, 2-layer vision and text towers,
    ``image_size`` px images, ``max_length`` text positions) with a BERT word vocabulary of
    :data:`JUDGE_WORDS` + :data:`CAPTION_WORDS`, saved with its processor (CLIP mean/std, as BLIP's) to
    ``out_dir`` (returned as a Path)."""
    from pathlib import Path

    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *dict.fromkeys(JUDGE_WORDS + CAPTION_WORDS)]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, bos_token="[DEC]",
                                  model_max_length=max_length)
    torch.manual_seed(seed)
    config = BlipConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "intermediate_size": 64, "max_position_embeddings": max_length,
                     "bos_token_id": vocab.index("[DEC]"), "sep_token_id": vocab.index("[SEP]"), "pad_token_id": 0,
                     "eos_token_id": vocab.index("[SEP]"), "encoder_hidden_size": 32, "initializer_range": 0.1},
        vision_config={"image_size": image_size, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "intermediate_size": 64, "initializer_range": 0.1},
        initializer_range=0.1)  # wider than BERT's 0.02, so the scores of different texts and images differ more
    model = BlipForConditionalGeneration(config).eval()
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": image_size, "width": image_size}),
                              tokenizer=tokenizer)
    out = Path(out_dir)
    model.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    return out


# ---------------------------------------------------------------------- grounding (comat masks)
#: Words the tiny Grounding DINO knows (entity names of the worlds and a few others); others become [UNK].
GROUNDING_WORDS = [
    ".", "a", "cat", "dog", "tree", "red", "orange", "yellow", "green", "blue", "purple", "circle", "circles",
    "square", "squares", "triangle", "triangles", "diamond", "diamonds", "star", "stars", "cross", "crosses",
]


def save_tiny_grounding_dino(out_dir: Any, seed: int = 0) -> Any:
    """A random-weight ``GroundingDinoForObjectDetection`` (Swin backbone with 8 channels, 1 encoder and 2 decoder
    layers of width 32, 10 queries, 64 px images) with a BERT word vocabulary of :data:`GROUNDING_WORDS`, saved
    with its processor to ``out_dir`` (returned as a Path)."""
    import tempfile
    from pathlib import Path

    import torch
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *GROUNDING_WORDS]
    cfg = GroundingDinoConfig(
        backbone_config=SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 1],
                                   window_size=2, out_features=["stage1", "stage2"]),
        text_config=BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32, max_position_embeddings=64),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=10, num_feature_levels=2, encoder_n_points=2,
        decoder_n_points=2, max_text_len=32, use_timm_backbone=False, use_pretrained_backbone=False)
    torch.manual_seed(seed)
    out = Path(out_dir)
    GroundingDinoForObjectDetection(cfg).eval().save_pretrained(str(out))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
        tokenizer = BertTokenizer(str(Path(tmp) / "vocab.txt"))
    processor = GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(
        size={"shortest_edge": 64, "longest_edge": 96}), tokenizer=tokenizer)
    processor.save_pretrained(str(out))
    return out


def save_tiny_sam(out_dir: Any, seed: int = 0) -> Any:
    """A random-weight ``SamModel`` (1-layer ViT of width 32 on 64 px inputs, 8 px patches; 1-layer mask decoder)
    with a ``SamProcessor`` resizing to 64 px, saved to ``out_dir`` (returned as a Path)."""
    from pathlib import Path

    import torch
    from transformers import (
        SamConfig,
        SamImageProcessor,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    cfg = SamConfig(
        vision_config=SamVisionConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, mlp_dim=64,
                                      image_size=64, patch_size=8, output_channels=16, window_size=4,
                                      global_attn_indexes=[0], num_pos_feats=8),
        prompt_encoder_config=SamPromptEncoderConfig(hidden_size=16, image_size=64, patch_size=8,
                                                     mask_input_channels=4, num_point_embeddings=4),
        mask_decoder_config=SamMaskDecoderConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                 mlp_dim=32, iou_head_hidden_dim=16))
    torch.manual_seed(seed)
    out = Path(out_dir)
    SamModel(cfg).eval().save_pretrained(str(out))
    SamProcessor(image_processor=SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64},
                                                   mask_size={"longest_edge": 16},
                                                   mask_pad_size={"height": 16, "width": 16})).save_pretrained(str(out))
    return out

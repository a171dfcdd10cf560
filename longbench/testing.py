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

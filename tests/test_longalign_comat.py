"""CoMat's parts against independent computations: the attention losses (a transcription of the reference's
formula), the DDPM update (diffusers), the gradient-step choice, the attention recorder, entity tokens in the
segment-encoded context, the exact scene masks, the discriminator's initialisation, the caption reward (the
caption-match metric) and the config."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers_longalign import one_thread


@pytest.fixture(scope="module", autouse=True)
def _threads():
    yield from one_thread()


# ---------------------------------------------------------------------------------------------- losses
def _reference_losses(masks, token_rows, res, layer_maps):
    """TokenCompose's per-layer-group losses as the reference code computes them, loop by loop: masks (1, 1, H, W)
    bool resized by ``transforms.Resize((res, res), antialias=True)``, then ``> 0``; ``layer_maps`` of
    (heads, res, res, keys)."""
    from torch import nn
    from torchvision import transforms

    seg = []
    for m in masks:
        r = transforms.Resize((res, res), antialias=True)(m[None, None].float()).squeeze(0)
        seg.append((r > 0.0).float())
    token_loss = 0.0
    for attn_map in layer_maps:
        b, h, w, _ = attn_map.shape
        for i in range(len(token_rows)):
            obj_loss = 0.0
            for pos in token_rows[i]:
                ca = attn_map[:, :, :, pos].reshape(b, h, w)
                act = (ca * seg[i]).reshape(b, -1).sum(dim=-1) / ca.reshape(b, -1).sum(dim=-1)
                obj_loss += (1.0 - torch.mean(act)) ** 2
            token_loss += obj_loss / len(token_rows[i])
    token_loss = token_loss / len(token_rows)
    avg = torch.stack([m.reshape(-1, res, res, m.shape[-1]).mean(0) for m in layer_maps], dim=0)
    avg = (avg.sum(0) / avg.shape[0]).unsqueeze(0)
    pixel_loss = 0.0
    for i in range(len(token_rows)):
        word = torch.stack([avg[..., k] for k in token_rows[i]], dim=0).sum(dim=0)
        pixel_loss += nn.BCELoss()(word, seg[i])
    pixel_loss = pixel_loss / len(token_rows)
    return token_loss, pixel_loss


def _probs(g, *shape):
    return torch.softmax(3 * torch.randn(*shape, generator=g), dim=-1)


def test_attention_losses_equal_the_reference_formula():
    from longalign.comat.losses import attention_losses

    g = torch.Generator().manual_seed(0)
    batch, heads, keys = 3, 2, 7
    # two recorded calls; per call a group of two 4×4 layers and one 2×2 layer
    recorded = [{("up", 4): [_probs(g, batch, heads, 4, 4, keys) for _ in range(2)],
                 ("mid", 2): [_probs(g, batch, heads, 2, 2, keys)]} for _ in range(2)]
    masks = [torch.zeros(2, 8, 8, dtype=torch.bool), None, torch.zeros(1, 8, 8, dtype=torch.bool)]
    masks[0][0, :3] = True  # regions that stay partial after the resize to 4×4 and 2×2 (any positive → 1)
    masks[0][1, 5:, 6:] = True
    masks[2][0, 1:7, 5:] = True
    rows = [[[1, 2], [4]], [], [[0, 5, 6]]]
    token, pixel = attention_losses(recorded, rows, masks, batch)
    want_t, want_p = 0.0, 0.0
    for i in (0, 2):
        for maps in recorded:
            for (_, res), layers in maps.items():
                t, p = _reference_losses(masks[i], rows[i], res, [layer[i] for layer in layers])
                want_t, want_p = want_t + t, want_p + p
    assert math.isclose(float(token), float(want_t) / batch, rel_tol=1e-5)
    assert math.isclose(float(pixel), float(want_p) / batch, rel_tol=1e-5)
    assert float(token) > 0 and float(pixel) > 0


def test_attention_losses_pull_attention_into_the_mask():
    """The gradient of both losses moves an entity token's attention mass into its mask."""
    from longalign.comat.losses import attention_losses

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 1, 4, 4, 3, generator=g, requires_grad=True)
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :2] = True
    probs = torch.softmax(logits.reshape(1, 1, 16, 3), dim=2).reshape(1, 1, 4, 4, 3)  # attention over positions
    token, pixel = attention_losses([{("up", 4): [probs]}], [[[1]]], [mask], 1)
    (grad,) = torch.autograd.grad(token + pixel, logits)
    assert float(grad[0, 0, :2, :, 1].mean()) < 0 < float(grad[0, 0, 2:, :, 1].mean())


# ---------------------------------------------------------------------------------------------- rollout
def _sd_scheduler_config():
    from diffusers import DDPMScheduler

    return DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         steps_offset=1).config


def test_ddpm_step_equals_diffusers():
    from diffusers import DDPMScheduler

    from longalign.diffusion import ddpm_step, split_prediction
    from longalign.rollout import sampler_timesteps

    config = _sd_scheduler_config()
    ts, prev = sampler_timesteps("ddpm", 50, config)
    assert ts[:2] == [981, 961] and ts[-1] == 1 and prev[-1] == -19 and len(ts) == 50  # Stable Diffusion's
    sched = DDPMScheduler.from_config(config)
    sched.set_timesteps(4)
    ts4, prev4 = sampler_timesteps("ddpm", 4, config)
    assert ts4 == [int(t) for t in sched.timesteps]
    ac = sched.alphas_cumprod
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 8, 8, generator=g)
    for t, tp in zip(ts4, prev4):
        eps = torch.randn(2, 4, 8, 8, generator=g)
        seed = int(torch.randint(0, 2 ** 31, (1,), generator=g))
        want = sched.step(eps, t, x, generator=torch.Generator().manual_seed(seed)).prev_sample
        noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(seed))
        tb = torch.full((2,), t)
        x0, _ = split_prediction(eps, tb, x, ac, "epsilon")
        got = ddpm_step(x0, x, tb, torch.full((2,), tp), ac, noise)
        assert torch.allclose(got, want, atol=1e-5), (t, float((got - want).abs().max()))
        x = want
    # the last step lands on x̂0 (ᾱ_prev = 1)
    assert torch.allclose(ddpm_step(x0, x, torch.full((2,), 1), torch.full((2,), -19), ac, None), x0, atol=1e-6)


def test_gradient_steps_follow_the_reference_rule():
    """K steps total_step // K apart from start = randint(0, total − interval·(K−1) − 1), as the reference."""
    from longalign.diffusion import spaced_step_indices

    starts = set()
    for seed in range(200):
        steps = spaced_step_indices(50, 5, torch.Generator().manual_seed(seed))
        assert steps == list(range(steps[0], 50, 10))
        starts.add(steps[0])
    assert starts == set(range(10))
    assert spaced_step_indices(7, 3, torch.Generator().manual_seed(0))[:3] == \
        spaced_step_indices(7, 3, torch.Generator().manual_seed(0))
    assert len(spaced_step_indices(7, 3, torch.Generator().manual_seed(0))) == 3


# ---------------------------------------------------------------------------------------------- attention
@pytest.fixture(scope="module")
def tiny_unet():
    from longbench.testing import tiny_sd_pipeline

    return tiny_sd_pipeline(0, sample_size=8).unet.eval()


def test_recorder_keeps_the_conditional_probabilities(tiny_unet):
    import copy

    from diffusers.models.attention_processor import Attention

    from longalign.comat.attention import CrossAttentionRecorder

    unet = copy.deepcopy(tiny_unet)
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(4, 4, 8, 8, generator=g), torch.tensor([500] * 4)
    ctx = torch.randn(4, 11, 32, generator=g)
    with torch.no_grad():
        plain = unet(x, t, ctx).sample
    inputs = {}
    for name, m in unet.named_modules():
        if isinstance(m, Attention) and m.is_cross_attention:
            m.register_forward_pre_hook(lambda mod, a, kw, n=name: inputs.__setitem__(n, a[0] if a else
                                                                                    kw["hidden_states"]),
                                        with_kwargs=True)
    recorder = CrossAttentionRecorder(unet, ["mid", "up"])
    assert sorted(n.split(".")[0] for n in recorder.layers) == ["mid_block", "up_blocks", "up_blocks"]
    sink = {}
    with recorder.explicit(sink):
        explicit = unet(x, t, ctx).sample
    assert torch.allclose(explicit, plain, atol=1e-5)
    assert sorted(sink) == [("mid", 4), ("up", 8)] and len(sink[("up", 8)]) == 2
    for (place, res), layers in sink.items():
        names = [n for n in recorder.layers if n.startswith("mid" if place == "mid" else "up")]
        for name, got in zip(names, layers):
            attn = unet.get_submodule(name)
            h = inputs[name]
            q = attn.head_to_batch_dim(attn.to_q(h))
            k = attn.head_to_batch_dim(attn.to_k(ctx))
            want = torch.softmax(q @ k.transpose(1, 2) * attn.scale, dim=-1)  # (4·heads, res², 11)
            want = want[:2 * attn.heads].reshape(2, attn.heads, res, res, 11)  # the first (conditional) half
            assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)
    with torch.no_grad():  # outside explicit(): the layers' original processors, nothing recorded
        assert torch.equal(unet(x, t, ctx).sample, plain)


def test_recorded_probabilities_carry_gradient_through_checkpointing(tiny_unet):
    """A checkpointed call records once, and the gradient through the recorded maps equals the plain one's."""
    import copy

    from torch.utils.checkpoint import checkpoint

    from longalign.comat.attention import CrossAttentionRecorder

    unet = copy.deepcopy(tiny_unet)
    recorder = CrossAttentionRecorder(unet, ["up"])
    g = torch.Generator().manual_seed(2)
    x0, t, ctx = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([300, 300]), torch.randn(2, 5, 32, generator=g)

    def run(use_checkpoint: bool):
        x = x0.clone().requires_grad_(True)
        sink = {}
        state = {"sink": sink}

        def forward(x_in):
            with recorder.explicit(state.pop("sink", None)):
                return unet(x_in, t, ctx).sample

        out = checkpoint(forward, x, use_reentrant=False) if use_checkpoint else forward(x)
        loss = out.square().mean() + sum(m[..., 2].sum() for layers in sink.values() for m in layers)
        (grad,) = torch.autograd.grad(loss, x)
        return grad, sum(len(v) for v in sink.values())

    plain, n_plain = run(False)
    ckpt, n_ckpt = run(True)
    assert n_plain == n_ckpt == 2
    assert torch.allclose(plain, ckpt, atol=1e-6)


# ---------------------------------------------------------------------------------------------- entities
def test_entity_tokens_are_found_beyond_77_tokens():
    from longalign.comat.entities import entity_rows, world_prompt
    from longalign.data.captions import SynthDataset
    from longbench.longsd.encoding import SegmentEncoder
    from longbench.suites.lexicon import same_noun
    from longbench.synth.suite import draft
    from longbench.testing import tiny_text_encoder
    from longbench.text.tokenizer import load_clip_tokenizer

    tok = load_clip_tokenizer()
    enc = SegmentEncoder(tok, tiny_text_encoder(), 240, "longalign")
    data = SynthDataset(8, 3, 32, load_images=False)
    beyond = 0
    for i in range(8):
        scene, prompt = draft(3, i)
        world = world_prompt(data, i)
        assert (world.world, world.seed, world.image_size) == ("synth", i, 128)
        ents = world.entities
        assert [e.group for e in ents] == list(range(len(scene.groups)))
        segs, _ = enc.segments([prompt.text])
        ids = [i for s in tok(segs, max_length=77, truncation=True)["input_ids"] for i in s if i != tok.eos_token_id]
        for e, rows in zip(ents, entity_rows(enc, prompt.text, ents)):
            words = {prompt.text[a:b].lower() for a, b in e.spans}
            assert any(same_noun(w, scene.groups[e.group].shape) for w in words)  # its noun
            assert not words & _COUNT_OR_PLACE  # numbers and locations do not attend to the entity
            want = sorted({t for a, b in e.spans for t in tok(prompt.text[a:b], add_special_tokens=False)["input_ids"]})
            assert sorted({ids[r] for r in rows}) == want
            beyond += any(r > 76 for r in rows)
    assert beyond > 0  # some entities sit past CLIP's 77-token window


_COUNT_OR_PLACE = {"one", "two", "three", "four", "1", "2", "3", "4", "top", "bottom", "left", "right", "middle",
                   "center", "centre", "corner", "upper", "lower"}


def test_mini_entities_keep_names_and_colours():
    from longalign.comat.entities import world_prompt
    from longalign.data.mini import MiniDataset
    from longbench.suites.lexicon import same_noun

    data = MiniDataset(3, 7, 32, load_images=False)
    for k in range(3):
        world = world_prompt(data, k)
        item = data.items[k]
        colours = {e.name: e.attributes[0] for e in item.entities}
        for e in world.entities:
            words = {item.prompt[a:b].lower() for a, b in e.spans}
            assert any(same_noun(w, e.name) for w in words)
            assert all(same_noun(w, e.name) or w == colours[e.name] for w in words), words


def test_parsed_entities_of_a_caption():
    from longalign.comat.entities import parsed_entities

    prompt = "Three small red boats float on the lake. Several birds fly in the sky; two clouds drift."
    ents = parsed_entities(prompt, ["cloud"])
    assert [e.name for e in ents] == ["boat", "bird"]
    assert [prompt[a:b] for a, b in ents[0].spans] == ["small", "red", "boats"]
    assert [prompt[a:b] for a, b in ents[1].spans] == ["birds"]


def test_scene_masks_are_the_rendered_objects():
    import numpy as np

    from longbench.mini.render import Renderer as MiniRenderer
    from longbench.mini.world import PALETTE as MINI_PALETTE
    from longbench.mini.world import Scene as MiniScene
    from longbench.synth.render import Renderer
    from longbench.synth.sampler import sample_scene
    from longbench.synth.world import PALETTE, REGIONS

    for seed in range(3):
        scene = sample_scene(seed)
        r = Renderer(128)
        arr, masks = r.render_array(scene, seed), r.entity_masks(scene, seed)
        assert masks.sum(0).max() == 1  # disjoint
        assert np.array_equal(masks.any(0), (arr != PALETTE[scene.background]).any(-1))  # every object pixel
        for g, m in zip(scene.groups, masks):
            assert m.any() and (arr[m] == PALETTE[g.colour]).all()
            row, col = divmod(REGIONS.index(g.region), 3)
            ys, xs = np.nonzero(m)
            assert row * 128 / 3 <= ys.min() and ys.max() < (row + 1) * 128 / 3 and col * 128 / 3 <= xs.min()
    scene = MiniScene.from_dict({"background": "gray", "groups": [
        {"shape": "circle", "colour": "red", "region": "top-left", "count": 2},
        {"shape": "cross", "colour": "red", "region": "bottom-right", "count": 3}]})
    r = MiniRenderer(2)
    arr, masks = r.render_array(scene, 5), r.entity_masks(scene, 5)
    assert masks.shape == (2, 64, 64) and not (masks[0] & masks[1]).any()
    assert np.array_equal(masks[0] | masks[1], (arr != MINI_PALETTE["gray"]).any(-1))
    assert masks[0][:32, :32].sum() == masks[0].sum() > 0 and masks[1][32:, 32:].sum() == masks[1].sum() > 0


# ---------------------------------------------------------------------------------------------- discriminator
@pytest.mark.parametrize("trunk", ["encoder", "unet"])
def test_discriminator_is_built_from_the_pretrained_unet(tiny_unet, trunk):
    from longalign.comat.discriminator import Discriminator
    from longalign.lora_recipes import add_lora
    from longalign.stages.comat import ATTENTION_LORA

    class Lora:
        recipe, rank, alpha, dropout, dropout_on, target_modules = "default", 4, 0.0, 0.0, "input", list(ATTENTION_LORA)

    d = Discriminator(tiny_unet, trunk)
    n_lora = add_lora(d.unet, Lora, "discriminator")
    assert n_lora > 0
    kept = ("conv_in", "time_embedding", "down_blocks", "mid_block") + (("up_blocks", "conv_out") if trunk == "unet"
                                                                       else ())
    original = dict(tiny_unet.named_parameters())
    copied = {n.replace(".base_layer", ""): p for n, p in d.unet.named_parameters() if "lora_" not in n}
    for name, p in original.items():
        if name.startswith(kept):
            assert torch.equal(copied[name], p), name  # the copy holds the pretrained weights
            assert p.data_ptr() != copied[name].data_ptr() and not copied[name].requires_grad
    if trunk == "encoder":
        assert not any(n.startswith(("up_blocks", "conv_out")) for n in copied)
    trained = {n for n, p in d.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n or n.startswith("head.") for n in trained)
    # at initialisation (LoRA B = 0) the logits are the head applied to the pretrained UNet's own activations
    g = torch.Generator().manual_seed(0)
    x, t, ctx = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([1, 1]), torch.randn(2, 9, 32, generator=g)
    seen = {}
    hook = tiny_unet.mid_block.register_forward_hook(lambda m, a, o: seen.__setitem__("mid", o))
    with torch.no_grad():
        out = tiny_unet(x, t, ctx).sample
        hook.remove()
        logits = d(x, t, ctx)
        want = d.head(seen["mid"])[:, 0] if trunk == "encoder" else d.head(out.permute(0, 2, 3, 1))[..., 0]
    assert logits.shape == want.shape and torch.allclose(logits, want, atol=1e-5)


def test_discriminator_losses_are_binary_cross_entropies():
    from longalign.comat.discriminator import discriminator_loss, generator_loss

    real, fake = torch.tensor([[2.0, -1.0]]), torch.tensor([[0.5, 3.0]])

    def bce(z, y):
        return -(y * math.log(1 / (1 + math.exp(-z))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-z))))

    want_d = (bce(2.0, 1) + bce(-1.0, 1) + bce(0.5, 0) + bce(3.0, 0)) / 4
    assert math.isclose(float(discriminator_loss(real, fake)), want_d, rel_tol=1e-6)
    assert math.isclose(float(generator_loss(fake)), (bce(0.5, 1) + bce(3.0, 1)) / 2, rel_tol=1e-6)


# ---------------------------------------------------------------------------------------------- caption reward
@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    from longbench.metrics.caption_match import load_captioner
    from longbench.testing import save_tiny_blip_captioner

    return load_captioner(str(save_tiny_blip_captioner(tmp_path_factory.mktemp("blip") / "blip", max_length=40)))


PROMPTS = ["A red circle sits on the table. The sky is blue; a boat rests on the calm lake.",
           "Three green squares and a yellow star."]


def test_caption_reward_is_the_metric(captioner):
    """With the image pooling, no crop and no smoothing, the reward is the caption-match-seg metric."""
    from longalign.rewards.caption import CaptionReward
    from longbench.metrics.caption_match import CaptionMatch

    u8 = torch.randint(0, 256, (2, 3, 40, 40), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    reward = CaptionReward(captioner, label_smoothing=0.0, random_crop=False, crop_fraction=1.0)
    out = reward(u8.float() / 255, PROMPTS)
    metric = CaptionMatch(captioner, use_suite_segments=False)
    want = metric.score(u8, PROMPTS).columns["caption-match-seg"]  # the metric reads images as uint8
    assert torch.allclose(out["reward"].double(), torch.tensor(want, dtype=torch.float64), atol=1e-5)
    assert out["texts"].tolist() == [3.0, 1.0]
    assert torch.allclose(reward.loss(out), -out["reward"].mean())


def test_caption_reward_token_pooling_is_the_reference_batch_loss(captioner):
    """``pooling=token`` with whole prompts is minus the reference's loss: the label-smoothed cross-entropy of the
    captioner's decoder averaged over every label token of the batch (prefix and padding masked)."""
    from torch.nn import functional as F

    from longalign.rewards.caption import CaptionReward

    images = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    reward = CaptionReward(captioner, segments=False, pooling="token", label_smoothing=0.1, random_crop=False,
                           crop_fraction=1.0)
    out = reward(images, PROMPTS)
    cap = captioner
    enc = cap.tokenizer([f"a photography of {p.lower()}" for p in PROMPTS], padding="longest", return_tensors="pt")
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    labels[:, :cap.prefix_length] = -100
    embeds = cap.model.vision_model(pixel_values=cap.pixels(images)).last_hidden_state
    logits = cap.model.text_decoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                    encoder_hidden_states=embeds).logits
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                          ignore_index=-100, label_smoothing=0.1)
    assert math.isclose(float(reward.loss(out).detach()), float(ref.detach()), rel_tol=1e-5)
    (g_ours,) = torch.autograd.grad(reward.loss(out), images, retain_graph=True)
    (g_ref,) = torch.autograd.grad(ref, images)
    assert torch.allclose(g_ours, g_ref, atol=1e-7)


def test_caption_reward_never_truncates(captioner):
    from longalign.rewards.caption import CaptionReward

    long = " ".join(["The red circle sits on the table with a bowl of fruit and a boat."] * 6)
    reward = CaptionReward(captioner, segments=False)
    texts = reward.texts_of(long)
    assert len(texts) > 1 and all(captioner.fits(t) for t in texts)
    assert " ".join(texts).split() == long.split()
    assert reward.texts_of(PROMPTS[1]) == [PROMPTS[1]]


# ---------------------------------------------------------------------------------------------- config
def test_comat_config_defaults_are_the_references():
    from longalign.config import load_config

    cfg = load_config("comat", None, ["model.base=x", "data.format=synth"])
    r, c, d = cfg.reward, cfg.comat, cfg.discriminator
    assert (r.kind, r.model, r.sampler, r.rollout_steps, r.grad_steps, r.detach_input, r.guidance_scale) == \
        ("caption", "Salesforce/blip-image-captioning-large", "ddpm", 50, 5, False, 7.5)
    assert (r.prefix, r.label_smoothing, r.crop_fraction) == ("a photography of", 0.1, 510 / 512)
    assert (cfg.lora.rank, cfg.lora.target_modules) == (128, ["to_q", "to_k", "to_v", "to_out.0"])
    o, t = cfg.optim, cfg.train
    assert (o.learning_rate, o.max_grad_norm, o.lr_scheduler, o.warmup_steps) == (5e-5, 0.1, "constant", 0)
    assert (t.batch_size, t.max_steps) == (4, 2000)
    assert (c.attention_steps, c.token_loss_weight, c.pixel_loss_weight, c.attention_places) == \
        (2, 1e-3, 5e-5, ["mid", "up"])
    assert (d.learning_rate, d.adam_beta1, d.max_grad_norm, d.loss_weight) == (2e-5, 0.0, 1.0, 1.0)


def test_reward_kind_selection_and_errors():
    from longalign.config import load_config
    from longbench.errors import LongbenchError

    r = load_config("reward", None, ["model.base=x", "data.format=synth"]).reward
    assert (r.kind, r.model, r.splitter, r.crop_fraction) == ("denscore", "luping-liu/Denscore", "longalign", 504 / 512)
    r = load_config("reward", None, ["model.base=x", "data.format=synth", "reward.model=caption"]).reward
    assert (r.kind, r.model, r.splitter) == ("caption", "Salesforce/blip-image-captioning-large", "default")
    r = load_config("reward", None, ["model.base=x", "data.format=synth", "reward.kind=caption", "reward.model=my/blip"]).reward
    assert (r.kind, r.model) == ("caption", "my/blip")
    for sets, message in [
        (["reward.kind=clip"], "reward.kind='clip': expected one of caption, denscore"),
        (["reward.pooling=mean"], "reward.pooling='mean'"),
        (["reward.sampler=euler"], "reward.sampler='euler'"),
        (["reward.grad_steps=60"], r"reward.grad_steps=60 must lie in \[0, 50\]"),
    ]:
        with pytest.raises(LongbenchError, match=message):
            load_config("reward", None, ["model.base=x", "data.format=synth", *sets])
    for sets, message in [
        (["comat.masks=sam"], "comat.masks='sam'"),
        (["comat.attention_places=[left]"], "comat.attention_places"),
        (["discriminator.trunk=mlp"], "discriminator.trunk='mlp'"),
        (["discriminator.adam_beta1=1"], r"discriminator.adam_beta1=1.0 must lie in \[0, 1\)"),
    ]:
        with pytest.raises(LongbenchError, match=message):
            load_config("comat", None, ["model.base=x", "data.format=synth", *sets])

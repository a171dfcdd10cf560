"""The training reward is the Denscore metric: parity, the ω reweighting of the gradient, V across processes."""

from __future__ import annotations

import pytest
import torch

from tests.helpers_longalign import SENTENCES, one_thread, save_tiny_clip

PROMPTS = [" ".join(SENTENCES[:4]), "A cat. A dog.", " ".join(SENTENCES[3:9])]


@pytest.fixture(scope="module", autouse=True)
def _threads():
    yield from one_thread()


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    from longbench.metrics.clip_models import load_clip_scorer

    d = save_tiny_clip(tmp_path_factory.mktemp("clip") / "clip", seed=1)
    return load_clip_scorer(str(d))


def _images(seed=0, n=3, size=40):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def test_reward_equals_the_metric(scorer):
    from longalign.rewards.denscore import PreferenceReward
    from longbench.metrics.denscore import score

    images = _images()
    reward = PreferenceReward(scorer, omega=0.3, random_crop=False)
    c = reward.prompt_vectors(PROMPTS)
    v = reward.batch_direction(c)
    ours = reward(images, PROMPTS)
    ref = score(images, PROMPTS, scorer, None, omega=0.3, direction=v)
    assert torch.allclose(ours["reward"], ref, atol=1e-6)
    plain = score(images, PROMPTS, scorer, None)
    assert torch.allclose(ours["score"], plain, atol=1e-6)
    assert torch.allclose(ours["direction"], c.mean(0) / c.mean(0).norm(), atol=1e-6)


@pytest.mark.parametrize("omega", [0.0, 0.3, 1.0])
def test_omega_scales_the_gradient_along_v(scorer, omega):
    """d reward / d x = c − (1−ω)(c·V)V: the V component is ω·η, the orthogonal part is unchanged."""
    from longalign.rewards.denscore import PreferenceReward

    reward = PreferenceReward(scorer, omega=omega, random_crop=False)
    c = reward.prompt_vectors(PROMPTS)
    v = reward.batch_direction(c)
    eta = c @ v
    # w.r.t. the image features
    x = torch.nn.functional.normalize(torch.randn(3, c.shape[1]), dim=-1).requires_grad_(True)
    (gx,) = torch.autograd.grad(reward.score_vectors(x, c, v).sum(), x)
    assert torch.allclose(gx @ v, omega * eta, atol=1e-6)
    assert torch.allclose(gx - (gx @ v)[:, None] * v, c - eta[:, None] * v, atol=1e-6)
    # w.r.t. the pixels: the vector-Jacobian product of the feature map with the formula's vector
    images = _images(1).requires_grad_(True)
    (g_img,) = torch.autograd.grad(reward(images, PROMPTS)["reward"].sum(), images)
    feats = reward.image_vectors(images)
    expected_vec = c - (1 - omega) * eta[:, None] * v
    (g_ref,) = torch.autograd.grad(feats, images, grad_outputs=expected_vec)
    assert torch.allclose(g_img, g_ref, atol=1e-6)


def test_direction_is_gathered_across_processes(scorer):
    from longalign.rewards.denscore import PreferenceReward

    class TwoProcesses:  # what accelerate's gather does for two processes
        num_processes = 2
        device = torch.device("cpu")

        def __init__(self, other):
            self.other = other

        def gather(self, t):
            return torch.cat([t, self.other])

    reward = PreferenceReward(scorer, random_crop=False)
    c_all = reward.prompt_vectors(PROMPTS + [SENTENCES[9], " ".join(SENTENCES[5:]), "Blue sky."])
    local, other = c_all[:3], c_all[3:]
    v = reward.batch_direction(local, TwoProcesses(other.mean(0, keepdim=True)))
    expected = c_all.mean(0) / c_all.mean(0).norm()
    assert torch.allclose(v, expected, atol=1e-6)
    assert not torch.allclose(reward.batch_direction(local), expected, atol=1e-4)


def test_whole_prompt_reward_and_random_crop(scorer):
    from longalign.rewards.denscore import PreferenceReward
    from longbench.metrics.functional import denscore as F

    reward = PreferenceReward(scorer, segments=False, random_crop=True)
    c = reward.prompt_vectors(PROMPTS)
    whole = F.l2_normalize(scorer.text_features(PROMPTS).float())
    assert torch.allclose(c, whole, atol=1e-6)
    images = _images(2, size=64)
    a = reward(images, PROMPTS, generator=torch.Generator().manual_seed(0))["reward"]
    b = reward(images, PROMPTS, generator=torch.Generator().manual_seed(0))["reward"]
    assert torch.equal(a, b)

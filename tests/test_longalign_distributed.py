"""Two CPU processes (torchrun, gloo): the reward stage shards the data, gathers V, syncs gradients and
writes one checkpoint."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from tests.helpers_longalign import save_tiny_clip, save_tiny_sd, write_pairs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_reward_run(tmp_path):
    from longalign.data.order import StreamBatchSampler
    from longalign.data.tables import read_table
    from longalign.rewards.denscore import PreferenceReward
    from longbench.metrics.clip_models import load_clip_scorer
    from longbench.metrics.functional.denscore import direction_hash

    sd, clip = save_tiny_sd(tmp_path / "sd"), save_tiny_clip(tmp_path / "clip")
    pairs = write_pairs(tmp_path / "data", n=8)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "longalign.commands", "--stage", "reward", "--output", str(out),
           "--no-progress"]
    for s in (f"model.base={sd}", f"data.path={pairs}", f"reward.model={clip}", "data.resolution=16", "lora.rank=4",
              "train.batch_size=2", "train.max_steps=2", "reward.rollout_steps=4", "reward.grad_every=2",
              "optim.warmup_steps=0"):
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("checkpoint:") == 1  # printed by rank 0 only

    # one checkpoint, one state written by both processes
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "final", "log.jsonl", "state"]
    assert json.loads((out / "final" / "manifest.json").read_text())["step"] == 2
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= {p.name for p in (out / "state").iterdir()}
    records = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]

    # V of step 1 is the unit mean over both processes' batches (rank r takes batches r, r+2, ...)
    captions = [row["caption"] for row in read_table(pairs)]
    batches = list(StreamBatchSampler(8, 2, seed=0, num_batches=4))
    reward = PreferenceReward(load_clip_scorer(str(clip)))
    # The log holds only V's hash (values rounded to 1e-6), so V must be recomputed bit for bit: the same
    # batches as the ranks encoded and, like them (OMP_NUM_THREADS=1), one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        c0 = reward.prompt_vectors([captions[i] for i in batches[0]])
        c1 = reward.prompt_vectors([captions[i] for i in batches[1]])
    finally:
        torch.set_num_threads(threads)

    class Gather:
        num_processes = 2
        device = torch.device("cpu")

        def gather(self, t):
            return torch.cat([t, c1.mean(0, keepdim=True)])

    v = reward.batch_direction(c0, Gather())
    assert records[0]["direction"] == direction_hash(v)  # a single value: every process used the same V
    assert records[0]["direction"] != direction_hash(reward.batch_direction(c0))

"""Concurrency and processes: runs sharing one --output, temporary-file sweeps, the process group of a
``cmd:`` model, and resuming a training state on another number of processes."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from longbench.errors import LongbenchError
from longbench.fileio import STALE_TEMP_AGE_S, atomic_write_bytes, is_stale_temp, sweep_stale_temps, temp_path

ROOT = Path(__file__).resolve().parents[1]


def _leftover_temps(root: Path) -> list[Path]:
    return list(root.rglob(".*.tmp"))


# ------------------------------------------------------------------------------------ evals on one --output
def _concurrent_evals(out: Path, n: int, limit: int) -> list[list[dict]]:
    cmd = [sys.executable, "-m", "cli", "eval", "--suite", "synth-v0", "--limit", str(limit), "--output", str(out),
           "--json", "--no-progress"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr.decode("utf-8", "replace")[-2000:]
        results.append(json.loads(stdout))
    return results


def test_concurrent_evals_on_one_output_all_succeed_with_one_runs_numbers(tmp_path):
    # Three default evals started together on one --output (they generate the same images into one cache
    # and write the same run directories). Before the fix a run's temp-file sweep deleted the others'
    # in-flight PNGs and a run died in about a third of the trials; the mechanism is repeated many times,
    # without the CLI's start-up cost (seconds per process), in
    # test_atomic_writes_and_sweeps_from_many_processes below.
    out = tmp_path / "runs"
    runs = _concurrent_evals(out, n=3, limit=10)
    # The synth metric reads scenes back exactly, so equal images give exactly equal numbers.
    metrics = [[(r["model"]["spec"], r["metrics"]) for r in res] for res in runs]
    assert metrics[0] == metrics[1] == metrics[2]
    for r in runs[0]:
        d = next((out / "synth-v0").glob(f"*{r['model']['identity_hash'][:8]}*"))
        on_disk = json.loads((d / "results.json").read_text())
        assert on_disk["metrics"] == r["metrics"]
        assert len((d / "samples.jsonl").read_text().splitlines()) == r["n"] == 10
    assert _leftover_temps(out) == []


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from longbench.fileio import atomic_write_bytes, sweep_stale_temps
    d, me, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    shared = bytes(range(256)) * 64  # every process writes the same content to the same file
    for i in range(n):
        sweep_stale_temps(d)  # what each eval does at start; must never touch a live writer's file
        atomic_write_bytes(d / "shared.bin", shared)
        atomic_write_bytes(d / f"{me}.txt", f"{me} {i}".encode())
        assert (d / "shared.bin").read_bytes() == shared
""")


def test_atomic_writes_and_sweeps_from_many_processes(tmp_path):
    n = 200
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), f"w{k}", str(n)], cwd=ROOT,
                              stderr=subprocess.PIPE) for k in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    assert (tmp_path / "shared.bin").read_bytes() == bytes(range(256)) * 64
    assert sorted(p.read_text() for p in tmp_path.glob("w*.txt")) == [f"w{k} {n - 1}" for k in range(4)]
    assert _leftover_temps(tmp_path) == []


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_only_provably_stale_temp_files_are_swept(tmp_path):
    target = tmp_path / "img.png"
    mine = temp_path(target)  # this process: alive
    assert mine.name.startswith(".img.png.") and mine.name.endswith(".tmp") and f"-{os.getpid()}-" in mine.name
    assert temp_path(target) != mine  # unique per call
    host = mine.name.split(".")[-2].split("-")[0]
    dead = tmp_path / f".img.png.{host}-{_dead_pid()}-abc123.tmp"
    other_host = tmp_path / f".img.png.{'0' * 8 if host != '0' * 8 else '1' * 8}-{_dead_pid()}-abc123.tmp"
    legacy = tmp_path / ".img.png.k2j4h5.tmp"  # mkstemp-style name of an older version: owner unknown
    old_mine = tmp_path / f".old.png.{host}-{os.getpid()}-abc123.tmp"
    for p in (mine, dead, other_host, legacy, old_mine):
        p.write_bytes(b"partial")
    long_ago = time.time() - STALE_TEMP_AGE_S - 60
    os.utime(old_mine, (long_ago, long_ago))
    assert [is_stale_temp(p) for p in (mine, dead, other_host, legacy, old_mine)] == [False, True, False, False, True]
    assert sweep_stale_temps(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (mine, other_host, legacy))


def test_atomic_write_keeps_normal_permissions_and_names_the_path(tmp_path):
    f = tmp_path / "sub" / "x.json"
    atomic_write_bytes(f, b"{}")
    umask = os.umask(0)
    os.umask(umask)
    assert f.stat().st_mode & 0o777 == 0o666 & ~umask
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LongbenchError, match=rf"^cannot write {blocker}/y\.json: {blocker} exists and is not a directory$"):
        atomic_write_bytes(blocker / "y.json", b"{}")


# ------------------------------------------------------------------------------------------- cmd: processes
def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _wait_dead(pid: int, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _requests(n: int = 1):
    from longbench.models.base import Request
    from longbench.suites.base import Item

    return [Request(Item.from_dict({"id": f"it{k}", "prompt": "A red cube."}, "test"), 7 + k) for k in range(n)]


_PNG_WRITER = "from PIL import Image; import sys; Image.new('RGB', (8, 8), (9, 99, 199)).save(sys.argv[1])"


@pytest.mark.skipif(not Path("/proc").is_dir() or sys.platform == "win32", reason="needs POSIX process groups")
def test_cmd_timeout_kills_the_whole_process_group(tmp_path):
    from longbench.models.command import CommandModel

    pidfile = tmp_path / "grandchild.pid"
    # sh starts a grandchild (a second sh that records its pid and becomes `sleep 600`), then sleeps itself
    script = f'sh -c "echo \\$\\$ > {pidfile}; exec sleep 600" & sleep 600'
    model = CommandModel(f"sh -c '{script}' {{out}}", {"timeout": "1"})
    t0 = time.monotonic()
    with pytest.raises(LongbenchError, match=r"^cmd: timed out after 1s on item 'it0'$"):
        model.generate(_requests())
    assert time.monotonic() - t0 < 30
    pid = int(pidfile.read_text())
    assert _wait_dead(pid), f"grandchild {pid} survived the timeout"


@pytest.mark.skipif(not Path("/proc").is_dir() or sys.platform == "win32", reason="needs POSIX process groups")
def test_cmd_background_children_do_not_outlive_a_successful_command(tmp_path):
    from longbench.models.command import CommandModel

    pidfile = tmp_path / "bg.pid"
    writer = tmp_path / "png.py"
    writer.write_text(_PNG_WRITER)
    script = f'sleep 600 & echo $! > {pidfile}; {sys.executable} {writer} "$0"'
    model = CommandModel(f"sh -c '{script}' {{out}}", {"timeout": "60"})
    t0 = time.monotonic()
    [image] = model.generate(_requests())
    assert time.monotonic() - t0 < 30  # the background child holds no pipe we wait on
    assert image.getpixel((0, 0)) == (9, 99, 199)
    assert _wait_dead(int(pidfile.read_text()))


@pytest.mark.skipif(not Path("/proc").is_dir() or sys.platform == "win32", reason="needs POSIX signals and groups")
def test_sigterm_to_longbench_kills_the_cmd_process_group(tmp_path):
    # A cancelled CI job or `timeout` sends SIGTERM to longbench only; the command runs in its own session, so
    # without unwinding (finally: kill the group) it would be orphaned and its temporary folder left behind.
    pidfile, tmp = tmp_path / "child.pid", tmp_path / "tmp"
    tmp.mkdir()
    template = f"cmd:sh -c 'echo $$ > {pidfile}; exec sleep 600' {{out}}"
    cmd = [sys.executable, "-m", "cli", "eval", "--model", template, "--limit", "1", "--output", str(tmp_path / "runs"),
           "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(tmp)})
    child = None
    try:
        end = time.monotonic() + 120
        while not (pidfile.is_file() and pidfile.read_text().strip()) and time.monotonic() < end:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        child = int(pidfile.read_text())
        proc.terminate()
        assert proc.wait(timeout=60) == 143
        assert _wait_dead(child), f"the command {child} outlived longbench"
    finally:
        proc.kill()
        proc.wait()
        if child is not None and _alive(child):  # a failed run must not leave the command behind either
            os.killpg(child, signal.SIGKILL)
    assert not list(tmp.glob("longbench-cmd-*"))


def test_cmd_output_that_is_not_utf8_never_fails_an_item(tmp_path):
    from longbench.models.command import CommandModel

    noisy = tmp_path / "noisy.py"
    noisy.write_text("import sys\nfrom PIL import Image\n"
                     "sys.stdout.buffer.write(b'\\xff\\xfe\\x80 progress\\n'); sys.stderr.buffer.write(b'\\xc3(\\n')\n"
                     "Image.new('RGB', (8, 8), (1, 2, 3)).save(sys.argv[1])\n")
    images = CommandModel(f"{sys.executable} {noisy} {{out}}").generate(_requests(2))
    assert [im.getpixel((0, 0)) for im in images] == [(1, 2, 3), (1, 2, 3)]
    failing = tmp_path / "failing.py"
    failing.write_text("import sys\nsys.stderr.buffer.write(b'bad \\xff byte\\n'); sys.exit(3)\n")
    with pytest.raises(LongbenchError) as ei:
        CommandModel(f"{sys.executable} {failing} {{out}}").generate(_requests())
    assert str(ei.value) == "cmd: exited with 3 on item 'it0': bad \ufffd byte"


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf", "abc"])
def test_cmd_timeout_must_be_a_positive_finite_number(value):
    from longbench.models.command import CommandModel

    with pytest.raises(LongbenchError, match=r"^(--model-arg timeout=|model 'cmd' option 'timeout': expected a number)"
                       ) as ei:
        CommandModel("gen {out}", {"timeout": value})
    assert "\n" not in str(ei.value)
    assert CommandModel("gen {out}", {"timeout": "0.5"}).timeout == 0.5
    assert math.isclose(CommandModel("gen {out}").timeout, 600.0)


# ------------------------------------------------------------------------------- training state, N processes
def test_resume_refuses_a_state_saved_by_another_number_of_processes(tmp_path):
    from click.testing import CliRunner

    from longalign.commands import train
    from longalign.config import config_to_dict, load_config

    # The state a run of 2 processes leaves after step 1 (trainer.json as the trainer writes it; the
    # refusal comes before any model or weights are loaded, so none are needed here).
    sets = [f"model.base={tmp_path / 'no-model-needed'}", f"data.path={tmp_path / 'no-data-needed'}",
            "data.resolution=16", "lora.rank=2", "optim.warmup_steps=0", "train.batch_size=2", "train.max_steps=2"]
    state = tmp_path / "run" / "state"
    state.mkdir(parents=True)
    saved = {"stage": "align", "step": 1, "num_processes": 2, "config": config_to_dict(load_config("align", None, sets))}
    (state / "trainer.json").write_text(json.dumps(saved))
    args = ["--stage", "align", "--output", str(tmp_path / "run"), "--no-progress", "--resume"]
    for s in sets:
        args += ["--set", s]
    r = CliRunner().invoke(train, args)
    assert r.exit_code == 2, (r.output, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0] == (f"error: --resume: the state in {state} was saved by 2 processes but this run has 1; the data "
                        "order and global batch depend on the process count, so resume with 2 (e.g. accelerate "
                        "launch --num_processes 2)")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["state"]  # nothing trained or written


def test_a_signal_while_the_command_starts_still_kills_it(tmp_path, monkeypatch):
    # Ctrl-C (or SIGTERM) landing inside Popen, after the fork but before Popen returns, used to leave the child
    # running with nothing bound to kill it; here the signal is sent at exactly that point, every time.
    from longbench.models import command

    pidfile = tmp_path / "child.pid"
    real_popen = subprocess.Popen

    def popen_then_interrupt(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        end = time.monotonic() + 60
        while not (pidfile.is_file() and pidfile.read_text().strip()) and time.monotonic() < end:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the handler runs now unless the signal is held
        return proc

    monkeypatch.setattr(command.subprocess, "Popen", popen_then_interrupt)
    # Python's own Ctrl-C handler, whatever this process inherited: a shell's background job (`cmd &`) starts with
    # SIGINT ignored, and an ignored SIGINT raises nothing
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    argv = ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 600"]
    try:
        with pytest.raises(KeyboardInterrupt):
            command.run_command(argv, 600, "x", tmp_path)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    finally:
        signal.signal(signal.SIGINT, inherited)
    child = int(pidfile.read_text())
    try:
        assert _wait_dead(child), f"the command {child} outlived the interrupt"
    finally:
        if _alive(child):
            os.killpg(child, signal.SIGKILL)

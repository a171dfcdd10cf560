"""Every writer gives its outputs the modes a plain open()/mkdir() would: 0666/0777 less the umask, never the
private 0600/0700 of tempfile (the atomic-write helpers in longbench.fileio are the one home for that)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from longbench.fileio import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_text,
    current_umask,
    normal_permissions,
    publish,
)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under this umask (a group-readable one and a group-private one)."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_current_umask_reads_without_changing_it(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask  # unchanged by reading


def test_atomic_writes_respect_umask(tmp_path: Path, umask: int) -> None:
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    atomic_write_text(tmp_path / "sub" / "b.txt", "y")
    assert mode(tmp_path / "a.bin") == mode(tmp_path / "sub" / "b.txt") == 0o666 & ~umask
    assert mode(tmp_path / "sub") == 0o777 & ~umask


def test_publish_gives_a_mkstemp_file_normal_permissions(tmp_path: Path, umask: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=tmp_path)
    os.close(fd)
    assert mode(Path(tmp)) == 0o600
    publish(tmp, tmp_path / "out")
    assert mode(tmp_path / "out") == 0o666 & ~umask and not Path(tmp).exists()


def test_atomic_dir_and_normal_permissions(tmp_path: Path, umask: int) -> None:
    with atomic_dir(tmp_path / "ckpt") as d:
        (d / "inner").mkdir(mode=0o700)
        fd, f = tempfile.mkstemp(dir=d / "inner")
        os.close(fd)
    ckpt = tmp_path / "ckpt"
    assert mode(ckpt) == mode(ckpt / "inner") == 0o777 & ~umask
    assert mode(ckpt / "inner" / Path(f).name) == 0o666 & ~umask
    private = Path(tempfile.mkdtemp(dir=tmp_path))
    outside = tmp_path / "outside"
    outside.write_bytes(b"")
    outside.chmod(0o600)
    (private / "link").symlink_to(outside)
    normal_permissions(private, recursive=True)
    assert mode(private) == 0o777 & ~umask
    assert mode(outside) == 0o600  # a link is not followed out of the tree


def test_suites_stats_plot_png(tmp_path: Path, umask: int) -> None:
    from click.testing import CliRunner

    from longbench.suites.commands import suites
    from tests.conftest import TINY_ITEMS, write_suite

    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS)
    r = CliRunner().invoke(suites, ["stats", str(suite), "--plot", str(tmp_path / "plots" / "len.png")])
    assert r.exit_code == 0, r.output
    png = tmp_path / "plots" / "len.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mode(png) == 0o666 & ~umask
    assert not [p for p in png.parent.iterdir() if p != png]  # no temporary file left


def test_leaderboard_store_and_build(tmp_path: Path, umask: int) -> None:
    from leaderboard.build import build_leaderboard
    from leaderboard.store import add_run
    from tests.helpers_leaderboard import make_run

    stored = add_run(tmp_path / "store", make_run(tmp_path / "run", "diffusers:org/a", {"denscore": [1.0, 2.0]}))
    assert mode(stored) == 0o777 & ~umask  # the run's directory in the store, made with mkdtemp
    assert {p.name: mode(p) for p in stored.iterdir()} == {
        "results.json": 0o666 & ~umask, "samples.jsonl": 0o666 & ~umask}
    build_leaderboard([tmp_path / "store"], tmp_path / "site")
    for p in (tmp_path / "site").rglob("*"):
        assert mode(p) == (0o777 if p.is_dir() else 0o666) & ~umask, p

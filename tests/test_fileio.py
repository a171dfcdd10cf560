"""Directory swaps (longbench.fileio): the new directory replaces the old one whole; a file is never replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from longbench.errors import LongbenchError
from longbench.fileio import atomic_dir, swap_dir


def test_swap_dir_replaces_a_directory_and_leaves_nothing_aside(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    (tmp_path / ".out.old").mkdir()  # left by a crash between the two renames: cleared first
    new = tmp_path / "new"
    new.mkdir()
    (new / "a.txt").write_text("a")
    swap_dir(new, target)
    assert [p.name for p in target.iterdir()] == ["a.txt"] and not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("kind", ["file", "link"])
def test_swap_dir_refuses_a_file_or_link_and_moves_nothing(tmp_path: Path, kind: str) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("keep")
    target = keep if kind == "file" else tmp_path / "link"
    if kind == "link":
        target.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    new = tmp_path / "new"
    new.mkdir()
    with pytest.raises(LongbenchError, match=f"{target.name}: exists and is not a directory"):
        swap_dir(new, target)
    assert keep.read_text() == "keep" and new.is_dir() and target.is_symlink() == (kind == "link")
    with pytest.raises(LongbenchError, match="exists and is not a directory"), atomic_dir(target) as tmp:
        (tmp / "x").write_text("x")
    assert keep.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"keep.txt", "new", target.name})

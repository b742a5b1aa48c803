"""Directory updates: a tree patch rebuilds the new tree exactly (content, modes, empty
directories), ships renames as references, and refuses foreign or damaged input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import CorruptDataError, InputError, WrongBaseError
from edgekit.update import PatchOptions
from edgekit.update.tree import apply_tree, diff_trees, scan_tree
from tests.common import assert_only_raises, mutations
from tests.update.pairs import make_trees

FAST = PatchOptions(level=3)


def _dirs(root: str | Path) -> set[tuple[str, int]]:
    root = Path(root)
    return {(p.relative_to(root).as_posix(), p.stat().st_mode & 0o7777)
            for p in root.rglob("*") if p.is_dir()}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trees")
    old, new = make_trees(tmp)
    info = diff_trees(old, new, tmp / "tree.ekt", FAST)
    return Path(old), Path(new), tmp / "tree.ekt", info


def test_tree_round_trip(trees, tmp_path):
    old, new, patch, info = trees
    files = apply_tree(old, patch, tmp_path / "staged")
    assert scan_tree(tmp_path / "staged") == scan_tree(new)  # paths, sizes, digests, modes
    assert _dirs(tmp_path / "staged") == _dirs(new)
    assert {f.path for f in files} == set(scan_tree(new))
    assert info.ops["rename"] == 1 and info.ops["add"] >= 1 and info.ops["patch"] >= 2
    assert info.removed == ("random/LICENSE.md", "random/_pickle.pyi")
    assert (tmp_path / "staged" / "bin" / "run.sh").stat().st_mode & 0o777 == 0o700


def test_tree_patch_is_much_smaller_than_the_new_files(trees):
    _, new, _, info = trees
    total = sum(e.size for e in scan_tree(new).values())
    assert info.size < total / 10


def test_tree_refuses_a_different_installed_tree(trees, tmp_path):
    old, _, patch, _ = trees
    import shutil

    other = tmp_path / "other"
    shutil.copytree(old, other)
    (other / "VERSION").write_text("1.0.1\n")
    with pytest.raises(WrongBaseError):
        apply_tree(other, patch, tmp_path / "staged")
    assert not (tmp_path / "staged").exists()


def test_tree_refuses_symlinks(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("x")
    os.symlink("f", tmp_path / "a" / "link")
    with pytest.raises(InputError):
        scan_tree(tmp_path / "a")


def test_damaged_tree_patch_raises_corrupt_data(trees, tmp_path):
    old, new, patch, _ = trees
    blob = patch.read_bytes()
    rng = np.random.default_rng(11)
    bad = tmp_path / "bad.ekt"
    want = scan_tree(new)
    n = 0

    def apply(b: bytes) -> None:
        nonlocal n
        n += 1
        bad.write_bytes(b)
        apply_tree(old, bad, tmp_path / f"s{n}")
        assert scan_tree(tmp_path / f"s{n}") == want  # if it applied, it is exact

    blobs = list(mutations(blob, rng, flips=40))[::3]
    raised = assert_only_raises(apply, blobs, CorruptDataError)
    assert raised >= len(blobs) - 3

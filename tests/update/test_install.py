"""The installer: every refusal of a signed update is a named test that also checks the
installed version is untouched; an install killed at 20 random points leaves the old version
intact and usable, and a retry succeeds."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from edgekit import _telemetry
from edgekit.errors import (
    ExpiredError,
    RollbackError,
    SignatureError,
    UpdateDataError,
    WrongBaseError,
)
from edgekit.secure import generate_key
from edgekit.update import PatchOptions
from edgekit.update import install as install_mod
from edgekit.update.install import Installer, build_update
from edgekit.update.tree import scan_tree
from tests.update.pairs import make_trees

FAST = PatchOptions(level=3)
NOW = datetime.now(timezone.utc).replace(microsecond=0)
NAME = "sensor-model"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Trees, a signing key and a good signed update 1.0.0 -> 2.0.0."""
    tmp = tmp_path_factory.mktemp("world")
    old, new = make_trees(tmp)
    key = generate_key("ed25519")
    bundle = build_update(old, new, tmp / "upd", name=NAME, base_version="1.0.0",
                          version="2.0.0", keys=key, expires=NOW + timedelta(days=30),
                          options=FAST)
    return {"tmp": tmp, "old": Path(old), "new": Path(new), "key": key, "bundle": bundle,
            "old_tree": scan_tree(old), "new_tree": scan_tree(new)}


def _device(world, root: Path) -> Installer:
    inst = Installer(root, NAME, world["key"].public_key())
    inst.bootstrap(world["old"], "1.0.0")
    return inst


def _assert_old_intact(world, inst: Installer) -> None:
    assert inst.installed_version == "1.0.0"
    assert scan_tree(inst.current) == world["old_tree"]
    assert not (inst.root / "staging").exists()  # refused before writing anything


def _other_update(world, tmp: Path, keys=None, base_version=None, **fields) -> tuple[bytes, Path]:
    """The good update's manifest with some fields changed, re-signed (by ``keys``, default
    the trusted key); the tree patch is the good one."""
    import dataclasses

    from edgekit.secure import sign_manifest, verify_manifest

    m = verify_manifest(world["bundle"].manifest.read_bytes(), world["key"].public_key())
    if base_version is not None:
        fields["metadata"] = {**m.metadata, "base_version": base_version}
    m = dataclasses.replace(m, **fields)
    return sign_manifest(m, keys or world["key"]), world["bundle"].patch


def test_install_switches_to_the_new_version(world, tmp_path):
    inst = _device(world, tmp_path / "dev")
    events = []
    sink = lambda e, f: events.append((e, f))  # noqa: E731
    _telemetry.add_sink(sink)
    try:
        res = inst.install(world["bundle"].manifest.read_bytes(), world["bundle"].patch)
    finally:
        _telemetry.remove_sink(sink)
    assert (res.version, res.previous) == ("2.0.0", "1.0.0")
    assert inst.installed_version == "2.0.0"
    assert scan_tree(inst.current) == world["new_tree"]
    assert inst.versions() == ["1.0.0", "2.0.0"]  # A/B: the previous stays for a rollback
    assert scan_tree(inst.root / "versions" / "1.0.0") == world["old_tree"]
    assert [e for e, _ in events] == ["update.apply"]
    assert events[0][1]["outcome"] == "ok" and events[0][1]["method"] == "tree"
    assert world["bundle"].patch_size < world["bundle"].new_size / 10


# --- refusals: each leaves 1.0.0 installed and untouched -------------------------------


def test_refuses_bad_signature(world, tmp_path):
    inst = _device(world, tmp_path / "dev")
    intruder = generate_key("ed25519")
    manifest, patch = _other_update(world, tmp_path / "u", keys=intruder)
    with pytest.raises(SignatureError):
        inst.install(manifest, patch)
    _assert_old_intact(world, inst)


def test_refuses_edited_manifest(world, tmp_path):
    inst = _device(world, tmp_path / "dev")
    manifest = world["bundle"].manifest.read_bytes().replace(b'"1.0.0"', b'"1.0.1"', 1)
    assert manifest != world["bundle"].manifest.read_bytes()
    with pytest.raises(SignatureError):
        inst.install(manifest, world["bundle"].patch)
    _assert_old_intact(world, inst)


def test_refuses_manifest_for_another_target(world, tmp_path):
    inst = _device(world, tmp_path / "dev")
    manifest, patch = _other_update(world, tmp_path / "u", name="other-model")
    with pytest.raises(SignatureError):
        inst.install(manifest, patch)
    _assert_old_intact(world, inst)


@pytest.mark.parametrize("version", ["0.9.0", "1.0.0"])
def test_refuses_rollback(world, tmp_path, version):
    inst = _device(world, tmp_path / "dev")
    manifest, patch = _other_update(world, tmp_path / "u", base_version="0.1",
                                    version=version)
    with pytest.raises(RollbackError):
        inst.install(manifest, patch)
    _assert_old_intact(world, inst)


def test_refuses_expired_manifest(world, tmp_path):
    inst = _device(world, tmp_path / "dev")
    with pytest.raises(ExpiredError):
        inst.install(world["bundle"].manifest.read_bytes(), world["bundle"].patch,
                     at=NOW + timedelta(days=31))
    _assert_old_intact(world, inst)


def test_refuses_patch_of_wrong_size(world, tmp_path):
    inst = _device(world, tmp_path / "dev")
    short = tmp_path / "short.ekt"
    short.write_bytes(world["bundle"].patch.read_bytes()[:-1])
    with pytest.raises(UpdateDataError) as err:
        inst.install(world["bundle"].manifest.read_bytes(), short)
    assert err.value.reason == "size"
    _assert_old_intact(world, inst)


def test_refuses_patch_of_wrong_digest(world, tmp_path):
    inst = _device(world, tmp_path / "dev")
    blob = bytearray(world["bundle"].patch.read_bytes())
    blob[len(blob) // 2] ^= 0x10
    bad = tmp_path / "bad.ekt"
    bad.write_bytes(bytes(blob))
    with pytest.raises(UpdateDataError) as err:
        inst.install(world["bundle"].manifest.read_bytes(), bad)
    assert err.value.reason == "digest"
    _assert_old_intact(world, inst)


def test_refuses_endless_data(world, tmp_path):
    """A patch file that goes on past its signed size (here 64 GiB, sparse) is refused after
    reading one byte more than signed."""
    inst = _device(world, tmp_path / "dev")
    endless = tmp_path / "endless.ekt"
    shutil.copyfile(world["bundle"].patch, endless)
    with open(endless, "r+b") as f:
        f.truncate(64 << 30)
    t0 = time.perf_counter()
    with pytest.raises(UpdateDataError) as err:
        inst.install(world["bundle"].manifest.read_bytes(), endless)
    assert err.value.reason == "overrun"
    assert time.perf_counter() - t0 < 5
    _assert_old_intact(world, inst)


def test_refuses_update_for_another_base_version(world, tmp_path):
    inst = _device(world, tmp_path / "dev")
    manifest, patch = _other_update(world, tmp_path / "u", base_version="1.5.0",
                                    version="2.0.0")
    with pytest.raises(WrongBaseError):
        inst.install(manifest, patch)
    _assert_old_intact(world, inst)


def test_refuses_when_installed_tree_differs_from_base(world, tmp_path):
    inst = _device(world, tmp_path / "dev")
    (inst.current / "VERSION").write_text("tampered\n")
    with pytest.raises(WrongBaseError):
        inst.install(world["bundle"].manifest.read_bytes(), world["bundle"].patch)
    assert inst.installed_version == "1.0.0"
    assert not (inst.root / "versions" / "2.0.0").exists()


# --- interrupted installs --------------------------------------------------------------


def _count_points(world, tmp: Path) -> list[str]:
    inst = _device(world, tmp)
    seen: list[str] = []
    install_mod._FAULT = seen.append
    try:
        inst.install(world["bundle"].manifest.read_bytes(), world["bundle"].patch)
    finally:
        install_mod._FAULT = None
    return seen


def _killed_child(inst: Installer, world, kill_at: int | None) -> int:
    """Fork; the child installs and is SIGKILLed at write point ``kill_at`` (or runs to the
    end).  Returns the child's wait status."""
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        try:
            count = 0

            def fault(label: str) -> None:
                nonlocal count
                count += 1
                if count == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)

            install_mod._FAULT = fault
            inst.install(world["bundle"].manifest.read_bytes(), world["bundle"].patch)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status


def _check_after_kill(world, inst: Installer) -> None:
    """Old intact (or, killed after the switch, new complete); a retry then succeeds."""
    version = inst.installed_version
    assert version in ("1.0.0", "2.0.0")
    assert scan_tree(inst.current) == world["old_tree" if version == "1.0.0" else "new_tree"]
    if version == "1.0.0":
        inst.install(world["bundle"].manifest.read_bytes(), world["bundle"].patch)
    assert inst.installed_version == "2.0.0"
    assert scan_tree(inst.current) == world["new_tree"]
    assert not (inst.root / "staging").exists()


@pytest.fixture
def no_fsync(monkeypatch):
    """A killed process loses nothing the kernel holds: fsync (there for power loss) is
    turned off in the kill tests, where it would be most of the time."""
    from edgekit.update import tree

    monkeypatch.setattr(tree, "_FSYNC", False)


def test_interrupted_install_at_20_random_points(world, tmp_path, no_fsync):
    points = _count_points(world, tmp_path / "count")
    assert len(points) >= 20
    rng = random.Random(20)
    chosen = sorted(rng.sample(range(1, len(points) + 1), 20))
    pristine = tmp_path / "pristine"
    _device(world, pristine)
    for k in chosen:
        root = tmp_path / f"dev{k}"
        shutil.copytree(pristine, root, symlinks=True)
        inst = Installer(root, NAME, world["key"].public_key())
        status = _killed_child(inst, world, k)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
            k, points[k - 1], status)
        _check_after_kill(world, inst)
        shutil.rmtree(root)


@pytest.mark.slow
def test_interrupted_install_by_sigkill_at_random_times(world, tmp_path, no_fsync):
    """Real SIGKILLs from outside at random moments (mid-file writes included)."""
    pristine = tmp_path / "pristine"
    _device(world, pristine)
    timing = tmp_path / "timing"
    shutil.copytree(pristine, timing, symlinks=True)
    t0 = time.perf_counter()
    _killed_child(Installer(timing, NAME, world["key"].public_key()), world, None)
    full = time.perf_counter() - t0
    rng = random.Random(7)
    for i in range(20):
        root = tmp_path / f"dev{i}"
        shutil.copytree(pristine, root, symlinks=True)
        inst = Installer(root, NAME, world["key"].public_key())
        pid = os.fork()
        if pid == 0:
            try:
                inst.install(world["bundle"].manifest.read_bytes(), world["bundle"].patch)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0, full))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        _check_after_kill(world, inst)
        shutil.rmtree(root)

"""Signed artifacts on real files: the shipped sensor series, signed as a file and as a
directory; every kind of tampering is refused with a named reason."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgekit.data
from edgekit import _telemetry
from edgekit.errors import (
    ExpiredError,
    InputError,
    OptionsError,
    RollbackError,
    SecurityError,
    SignatureError,
)
from edgekit.secure import (
    build_manifest,
    check_files,
    compare_versions,
    default_manifest_path,
    generate_key,
    load_private_key,
    load_public_key,
    parse_version,
    public_key_pem,
    read_verified,
    save_private_key,
    sign_artifact,
    sign_manifest,
    verify_artifact,
    verify_manifest,
)
from tests.common import assert_only_raises, mutations

SENSORS = Path(edgekit.data.__file__).parent / "sensors"


@pytest.fixture(scope="module")
def ed_key():
    return generate_key("ed25519")


@pytest.fixture(scope="module")
def ec_key():
    return generate_key("ec-p256")


@pytest.fixture
def artifact_dir(tmp_path):
    d = tmp_path / "sensors-pack"
    shutil.copytree(SENSORS, d)
    return d


@pytest.fixture
def model_file(tmp_path):
    f = tmp_path / "payerne_temp_C.npy"
    shutil.copyfile(SENSORS / "payerne_temp_C.npy", f)
    return f


@pytest.mark.parametrize("kind", ["ed25519", "ec-p256", "ec-p384"])
def test_sign_and_verify_a_file(model_file, kind):
    key = generate_key(kind)
    mpath = sign_artifact(model_file, key, name="payerne", version="1.2.0",
                          metadata={"units": "degC"})
    assert mpath == default_manifest_path(model_file)
    m = verify_artifact(model_file, None, key.public_key())
    assert (m.name, m.version, m.kind) == ("payerne", "1.2.0", "file")
    assert m.files[0].path == "payerne_temp_C.npy"
    assert m.files[0].size == model_file.stat().st_size
    assert m.metadata["units"] == "degC"
    assert len(m.key_ids) == 1


def test_sign_and_verify_a_directory(artifact_dir, ed_key):
    mpath = sign_artifact(artifact_dir, ed_key, name="sensors", version=3)
    m = verify_artifact(artifact_dir, mpath, [ed_key.public_key()])
    names = sorted(p.name for p in artifact_dir.iterdir())
    assert [f.path for f in m.files] == names
    assert m.total_size == sum(p.stat().st_size for p in artifact_dir.iterdir())


def test_edited_file_is_refused(artifact_dir, ed_key):
    mpath = sign_artifact(artifact_dir, ed_key, name="sensors", version="1")
    target = artifact_dir / "payerne_temp_C.npy"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one reading
    target.write_bytes(bytes(data))
    with pytest.raises(SignatureError) as err:
        verify_artifact(artifact_dir, mpath, ed_key.public_key())
    assert (err.value.reason, err.value.path) == ("modified", "payerne_temp_C.npy")


def test_same_size_edit_of_a_value_is_refused(model_file, ec_key):
    mpath = sign_artifact(model_file, ec_key, name="m", version="1")
    x = np.load(model_file)
    x[0] += 0.1
    np.save(model_file, x)
    with pytest.raises(SignatureError, match="differs") as err:
        verify_artifact(model_file, mpath, ec_key)
    assert err.value.reason == "modified"


def test_added_file_is_refused(artifact_dir, ed_key):
    mpath = sign_artifact(artifact_dir, ed_key, name="sensors", version="1")
    (artifact_dir / "sub").mkdir()
    (artifact_dir / "sub" / "extra.py").write_text("import os\n")
    with pytest.raises(SignatureError) as err:
        verify_artifact(artifact_dir, mpath, ed_key.public_key())
    assert (err.value.reason, err.value.path) == ("added", "sub/extra.py")


def test_empty_added_file_is_refused(artifact_dir, ed_key):
    mpath = sign_artifact(artifact_dir, ed_key, name="sensors", version="1")
    (artifact_dir / "empty").write_bytes(b"")
    with pytest.raises(SignatureError, match="not in the signed manifest"):
        verify_artifact(artifact_dir, mpath, ed_key.public_key())


def test_removed_file_is_refused(artifact_dir, ed_key):
    mpath = sign_artifact(artifact_dir, ed_key, name="sensors", version="1")
    (artifact_dir / "PROVENANCE.md").unlink()
    with pytest.raises(SignatureError) as err:
        verify_artifact(artifact_dir, mpath, ed_key.public_key())
    assert (err.value.reason, err.value.path) == ("removed", "PROVENANCE.md")


def test_renamed_file_in_a_directory_is_refused(artifact_dir, ed_key):
    mpath = sign_artifact(artifact_dir, ed_key, name="sensors", version="1")
    os.rename(artifact_dir / "seattle_temp_F.npy", artifact_dir / "seattle_temp_C.npy")
    with pytest.raises(SignatureError) as err:
        verify_artifact(artifact_dir, mpath, ed_key.public_key())
    assert err.value.reason in ("added", "removed")


def test_swapped_contents_of_two_files_are_refused(artifact_dir, ed_key):
    mpath = sign_artifact(artifact_dir, ed_key, name="sensors", version="1")
    a, b = artifact_dir / "payerne_temp_C.npy", artifact_dir / "payerne_pressure_hPa.npy"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    with pytest.raises(SignatureError) as err:
        verify_artifact(artifact_dir, mpath, ed_key.public_key())
    assert err.value.reason == "modified"


def test_renamed_single_file_is_refused(model_file, ed_key):
    mpath = sign_artifact(model_file, ed_key, name="m", version="1")
    moved = model_file.with_name("other.npy")
    os.rename(model_file, moved)
    with pytest.raises(SignatureError) as err:
        verify_artifact(moved, mpath, ed_key.public_key())
    assert err.value.reason in ("removed", "added")


def test_file_where_a_directory_was_signed_is_refused(artifact_dir, model_file, ed_key):
    mpath = sign_artifact(artifact_dir, ed_key, name="sensors", version="1")
    with pytest.raises(SignatureError) as err:
        verify_artifact(model_file, mpath, ed_key.public_key())
    assert err.value.reason == "kind"


def test_symlinks_are_not_signed_and_not_accepted(artifact_dir, ed_key, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the artifact")
    mpath = sign_artifact(artifact_dir, ed_key, name="sensors", version="1")
    (artifact_dir / "link").symlink_to(outside)
    with pytest.raises(SignatureError):
        verify_artifact(artifact_dir, mpath, ed_key.public_key())
    with pytest.raises(InputError, match="symlink"):
        sign_artifact(artifact_dir, ed_key, name="sensors", version="2")


def test_wrong_key_is_refused(model_file, ed_key):
    mpath = sign_artifact(model_file, ed_key, name="m", version="1")
    other = generate_key("ed25519")
    with pytest.raises(SignatureError) as err:
        verify_artifact(model_file, mpath, other.public_key())
    assert err.value.reason == "signature"
    # a P-256 key of the same holder is a different key too
    with pytest.raises(SignatureError):
        verify_artifact(model_file, mpath, generate_key("ec-p256").public_key())


def test_edited_manifest_is_refused(model_file, ed_key):
    mpath = sign_artifact(model_file, ed_key, name="m", version="1.0")
    doc = json.loads(mpath.read_text())
    for field, value in [("version", "9.0"), ("name", "n"), ("expires", "2099-01-01T00:00:00Z")]:
        edited = json.loads(mpath.read_text())
        edited["signed"][field] = value
        with pytest.raises(SignatureError) as err:
            verify_manifest(json.dumps(edited).encode(), ed_key.public_key())
        assert err.value.reason == "signature"
    # re-pointing the digest at edited content
    doc["signed"]["files"][0]["sha256"] = "0" * 64
    with pytest.raises(SignatureError):
        verify_manifest(json.dumps(doc).encode(), ed_key.public_key())


def test_signature_moved_to_another_manifest_is_refused(model_file, ed_key, tmp_path):
    m1 = json.loads(sign_artifact(model_file, ed_key, name="m", version="1",
                                  out=tmp_path / "a.json").read_text())
    m2 = json.loads(sign_artifact(model_file, ed_key, name="m", version="2",
                                  out=tmp_path / "b.json").read_text())
    m2["signatures"] = m1["signatures"]
    with pytest.raises(SignatureError):
        verify_manifest(json.dumps(m2).encode(), ed_key.public_key())


def test_manifest_of_another_artifact_is_refused_by_name(model_file, ed_key):
    mpath = sign_artifact(model_file, ed_key, name="thermometer", version="1")
    with pytest.raises(SignatureError) as err:
        verify_artifact(model_file, mpath, ed_key.public_key(), name="face_detector")
    assert err.value.reason == "name"


def test_rollback_is_refused(model_file, ed_key):
    mpath = sign_artifact(model_file, ed_key, name="m", version="1.9.0")
    with pytest.raises(RollbackError) as err:
        verify_artifact(model_file, mpath, ed_key.public_key(), installed="1.10")
    assert (err.value.installed, err.value.offered) == ("1.10", "1.9.0")
    # same version: fine to re-verify what is installed, refused as an update
    assert verify_artifact(model_file, mpath, ed_key.public_key(), installed="1.9").version
    with pytest.raises(RollbackError):
        verify_artifact(model_file, mpath, ed_key.public_key(), installed="1.9",
                        require_newer=True)
    assert verify_artifact(model_file, mpath, ed_key.public_key(), installed="1.8.99",
                           require_newer=True).version == "1.9.0"


def test_expired_manifest_is_refused(model_file, ed_key):
    expires = datetime.now(timezone.utc) + timedelta(days=1)
    mpath = sign_artifact(model_file, ed_key, name="m", version="1", expires=expires)
    verify_artifact(model_file, mpath, ed_key.public_key())
    with pytest.raises(ExpiredError):
        verify_artifact(model_file, mpath, ed_key.public_key(), at=expires + timedelta(hours=1))


def test_threshold_of_two_keys(model_file, ed_key, ec_key):
    third = generate_key("ed25519")
    both = sign_manifest(build_manifest(model_file, name="m", version="1"), [ed_key, ec_key])
    trusted = [ed_key.public_key(), ec_key.public_key(), third.public_key()]
    m = verify_artifact(model_file, both, trusted, threshold=2)
    assert len(m.key_ids) == 2
    one = sign_manifest(build_manifest(model_file, name="m", version="1"), [ed_key])
    with pytest.raises(SignatureError, match="1 valid signature"):
        verify_artifact(model_file, one, trusted, threshold=2)
    # the same key twice does not count twice
    doc = json.loads(one)
    doc["signatures"] = doc["signatures"] * 2
    with pytest.raises(SignatureError):
        verify_manifest(json.dumps(doc).encode(), trusted, threshold=2)
    with pytest.raises(OptionsError):
        verify_manifest(one, [ed_key.public_key()], threshold=2)


def test_untrusted_extra_signature_is_ignored(model_file, ed_key):
    rogue = generate_key("ed25519")
    blob = sign_manifest(build_manifest(model_file, name="m", version="1"), [rogue, ed_key])
    m = verify_manifest(blob, ed_key.public_key())
    assert len(m.key_ids) == 1


def test_blobs_and_read_verified(model_file, ed_key):
    blobs = {"delta.bin": b"\x00\x01" * 100, "meta/info.txt": b"from 1.0 to 1.1"}
    blob = sign_manifest(build_manifest(blobs, name="update", version="1.1",
                                        metadata={"from": "1.0"}), ed_key)
    m = verify_manifest(blob, ed_key.public_key())
    check_files(m, blobs)
    with pytest.raises(SignatureError):
        check_files(m, {**blobs, "delta.bin": b"\x00\x01" * 99})
    sign_artifact(model_file, ed_key, name="m", version="1")
    data, m2 = read_verified(model_file, None, ed_key.public_key())
    assert data == model_file.read_bytes() and m2.version == "1"


def test_damaged_manifests_raise_only_signature_error(model_file, ed_key):
    blob = sign_manifest(build_manifest(model_file, name="m", version="1"), ed_key)
    rng = np.random.default_rng(7)
    damaged = [b for b in mutations(blob, rng, flips=150) if b != blob]
    raised = assert_only_raises(lambda b: verify_manifest(b, ed_key.public_key()), damaged,
                                SecurityError)
    # whitespace flips inside the JSON may leave it valid; every other flip is refused
    assert raised >= len(damaged) - 10


def test_missing_manifest_is_refused(model_file, ed_key):
    with pytest.raises(SignatureError, match="no manifest"):
        verify_artifact(model_file, None, ed_key.public_key())


def test_failure_telemetry_once_per_call(model_file, ed_key):
    events = []
    sink = lambda e, f: events.append((e, f))  # noqa: E731
    mpath = sign_artifact(model_file, ed_key, name="m", version="1")
    _telemetry.add_sink(sink)
    try:
        with pytest.raises(RollbackError):
            verify_artifact(model_file, mpath, ed_key.public_key(), installed="2")
        verify_artifact(model_file, mpath, ed_key.public_key())
    finally:
        _telemetry.remove_sink(sink)
    assert events == [("secure.failure", {"kind": "artifact", "reason": "rollback"})]


def test_encrypted_key_round_trip(tmp_path, ed_key):
    path = save_private_key(ed_key, tmp_path / "signing.pem", password="fleet secret")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert b"ENCRYPTED" in path.read_bytes()
    back = load_private_key(path, password="fleet secret")
    assert public_key_pem(back) == public_key_pem(ed_key)
    assert public_key_pem(load_public_key(public_key_pem(ed_key))) == public_key_pem(ed_key)
    with pytest.raises(SignatureError):
        load_private_key(path, password="wrong")
    with pytest.raises(SignatureError):
        load_private_key(path)


def test_versions():
    assert parse_version("1.10.0") == (1, 10)
    assert compare_versions("1.10", "1.9") == 1
    assert compare_versions("2", "2.0.0") == 0
    assert compare_versions(3, "10") == -1
    for bad in ["", "1.", "v1", "01", "1..2", "-1", "1.2.3.4.5.6.7.8.9"]:
        with pytest.raises(InputError):
            parse_version(bad)


def test_a_certificate_can_stand_for_its_key(model_file):
    from edgekit.secure import CertificateAuthority, create_csr

    ca = CertificateAuthority.create_root("release signing")
    key = generate_key()
    cert = ca.issue_device(create_csr(key, "release-bot"))
    mpath = sign_artifact(model_file, key, name="m", version="1")
    assert verify_artifact(model_file, mpath, [cert]).key_ids


def test_manifest_is_hashable(model_file, ed_key):
    m = build_manifest(model_file, name="m", version="1", metadata={"a": "b"})
    assert hash(m) == hash(build_manifest(model_file, name="m", version="1", created=m.created))


_names = st.text(alphabet="abcdefgh_.-", min_size=1, max_size=8).filter(
    lambda n: n not in (".", ".."))


@settings(max_examples=25)
@given(files=st.dictionaries(st.lists(_names, min_size=1, max_size=3).map("/".join),
                             st.binary(max_size=300), min_size=1, max_size=8),
       change=st.sampled_from(["edit", "add", "remove", "rename"]), pick=st.integers(0, 7))
def test_any_single_change_to_a_random_tree_is_refused(tmp_path_factory, files, change, pick):
    root = tmp_path_factory.mktemp("tree") / "artifact"
    written = {}
    for rel, data in files.items():
        p = root / rel
        if any(q.is_file() for q in [*p.parents][:-1] if q != root and q.exists()):
            continue  # a path whose parent is already a file: not a valid tree
        if p.exists():
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        written[rel] = p
    if not written:
        return
    key = generate_key("ed25519")
    mpath = sign_artifact(root, key, name="tree", version="1")
    assert {f.path for f in verify_artifact(root, mpath, key.public_key()).files} == set(written)
    rel, p = sorted(written.items())[pick % len(written)]
    if change == "edit":
        p.write_bytes(p.read_bytes() + b"\x00")
    elif change == "add":
        (root / "zz_added").write_bytes(b"")
    elif change == "remove":
        p.unlink()
    else:
        p.rename(p.with_name(p.name + "r"))
    with pytest.raises(SignatureError):
        verify_artifact(root, mpath, key.public_key())

"""Signed models through edgekit.secure: a model signed by a trusted key loads; a tampered
one (still a valid flatbuffer), one signed by another key, a rollback and a missing manifest
are refused before any runtime sees the model."""

from __future__ import annotations

import pytest

from edgekit.errors import RollbackError, SignatureError
from edgekit.infer import Detector, Model, load_image, signed_model
from edgekit.infer._flatbuffer import read_model
from tests.infer.helpers import ASTRONAUT, FACE, needs_runtime

secure = pytest.importorskip("edgekit.secure")


@pytest.fixture
def signed(tmp_path):
    key = secure.generate_key("ed25519")
    model = tmp_path / "face.tflite"
    model.write_bytes(FACE.read_bytes())
    manifest = secure.sign_artifact(model, key, name="face", version="3")
    return model, manifest, key


def _no_runtime(monkeypatch):
    import edgekit.infer.runtime as rt

    def refuse(name):
        raise AssertionError("the runtime was reached")

    monkeypatch.setattr(rt, "_pick", refuse)


@needs_runtime
def test_signed_model_loads_and_detects(signed):
    model, manifest, key = signed
    verify = signed_model(trusted_keys=[key.public_key()], name="face", installed="2")
    with Detector.from_file(model, verify=verify) as det:
        assert len(det.detect(load_image(ASTRONAUT))) == 1
    # from bytes, with the manifest handed over explicitly
    explicit = signed_model(manifest.read_bytes(), trusted_keys=[key.public_key()])
    with Detector.from_bytes(model.read_bytes(), verify=explicit) as det:
        assert det.name == "face_detection_short_range"


def test_tampered_model_is_refused_before_the_runtime(signed, monkeypatch):
    model, _, key = signed
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the weights: still a well-formed flatbuffer
    read_model(bytes(data))
    model.write_bytes(bytes(data))
    _no_runtime(monkeypatch)
    with pytest.raises(SignatureError) as info:
        Model.load(model, verify=signed_model(trusted_keys=[key.public_key()]))
    assert info.value.reason == "modified"


def test_other_key_rollback_and_missing_manifest_are_refused(signed, monkeypatch):
    model, manifest, key = signed
    _no_runtime(monkeypatch)
    stranger = secure.generate_key("ed25519")
    with pytest.raises(SignatureError):
        Model.load(model, verify=signed_model(trusted_keys=[stranger.public_key()]))
    with pytest.raises(RollbackError):
        Model.load(model, verify=signed_model(trusted_keys=[key.public_key()], installed="4"))
    manifest.unlink()
    with pytest.raises(SignatureError, match="cannot read the signed manifest"):
        Model.load(model, verify=signed_model(trusted_keys=[key.public_key()]))
    with pytest.raises(SignatureError, match="explicitly"):
        Model.load(model.read_bytes(), verify=signed_model(trusted_keys=[key.public_key()]))

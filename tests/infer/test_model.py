"""The runtime wrapper: a truncated, foreign or damaged model file is refused with
ModelError before any runtime sees it (or by the runtime, never by a crash), the signature
hook runs on the exact bytes before loading, and the tensor details are reported."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edgekit.errors import InputError, ModelError, OptionsError, SignatureError
from edgekit.infer import Detector, Model
from edgekit.infer._flatbuffer import read_model
from tests._env import child_env
from tests.common import mutations
from tests.infer.helpers import (
    ASTRONAUT,
    FACE,
    PALM_MODEL,
    ROOT,
    RUNTIME,
    SSD,
    needs_runtime,
)

FACE_BYTES = FACE.read_bytes()


@pytest.mark.parametrize("cut", [0, 3, 7, 8, 64, 1000, len(FACE_BYTES) // 2,
                                 len(FACE_BYTES) - 64])
def test_truncated_model_is_refused_before_the_runtime(cut):
    with pytest.raises(ModelError, match="not a valid TFLite model"):
        read_model(FACE_BYTES[:cut])


def test_every_truncation_of_both_models_is_refused():
    for blob in (FACE_BYTES, PALM_MODEL.read_bytes()):
        for cut in range(0, len(blob), 997):
            with pytest.raises(ModelError):
                read_model(blob[:cut])


@pytest.mark.parametrize("blob", [ASTRONAUT.read_bytes()[:4096], b"", b"TFL3" * 10,
                                  os.urandom(5000), b"\x00\x00\x00\x00TFL3" + bytes(100)])
def test_foreign_file_is_refused(blob, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(blob)
    with pytest.raises(ModelError) as info:
        Model.load(path)
    assert info.value.path == str(path)
    with pytest.raises(ModelError):
        Detector.from_file(path)


def test_missing_file_and_bad_source_type(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        Model.load(tmp_path / "absent.tflite")
    with pytest.raises(ModelError, match="cannot read"):
        Detector.from_file(tmp_path / "absent.tflite")
    with pytest.raises(TypeError):
        Model.load(12345)  # type: ignore[arg-type]


@needs_runtime
def test_model_details_and_io():
    with Model.load(FACE, num_threads=1) as m:
        assert m.runtime in ("ai_edge_litert", "tflite_runtime", "tensorflow")
        (inp,) = m.inputs
        assert inp.shape == (1, 128, 128, 3) and inp.dtype == np.float32 and not inp.quantized
        shapes = sorted(o.shape for o in m.outputs)
        assert shapes == [(1, 896, 1), (1, 896, 16)]
        assert "BUILTIN_3" in m.ops()  # CONV_2D
        with pytest.raises(InputError):
            m.set_input(np.zeros((1, 128, 128, 3), np.uint8))
        with pytest.raises(InputError):
            Model.load(FACE, num_threads=0)


@needs_runtime
def test_quantised_io_is_reported_and_dequantised():
    with Model.load(SSD["int8"]) as m:
        (inp,) = m.inputs
        assert inp.dtype == np.int8 and inp.quantized and inp.scale > 0
        m.set_input(m.input_buffer())
        m.invoke()
        assert all(m.output(i).dtype == np.float32 for i in range(4))


@needs_runtime
def test_verify_hook_sees_the_exact_bytes_and_can_refuse():
    seen = []

    def accept(data, path):
        seen.append((data, path))

    with Model.load(FACE, verify=accept):
        pass
    assert seen == [(FACE_BYTES, str(FACE))]

    loaded = []

    def refuse(data, path):
        raise SignatureError("bad signature")

    with pytest.raises(SignatureError):
        Detector.from_file(FACE, verify=refuse)
    # refused before any interpreter was made: the verify hook runs before the runtime
    import edgekit.infer.runtime as rt

    original = rt._pick

    def spy(name):
        loaded.append(name)
        return original(name)

    rt._pick = spy
    try:
        with pytest.raises(SignatureError):
            Model.load(FACE, verify=refuse)
    finally:
        rt._pick = original
    assert loaded == []


@needs_runtime
def test_unknown_model_needs_a_config():
    with pytest.raises(OptionsError, match="PostProcessConfig"):
        Detector.from_file(SSD["f32"])


_FUZZ = """
import sys
import numpy as np
from edgekit.errors import ModelError
from edgekit.infer import Model
from tests.common import mutations
blob = open(sys.argv[1], "rb").read()
refused = loaded = 0
for b in mutations(blob, np.random.default_rng(int(sys.argv[2])), flips=int(sys.argv[3])):
    try:
        m = Model.load(b, runtime=sys.argv[4])
        m.set_input(m.input_buffer())
        m.invoke()
        loaded += 1
    except ModelError:
        refused += 1
print(loaded, refused)
"""


@needs_runtime
@pytest.mark.parametrize("seed", [1, pytest.param(6, marks=pytest.mark.slow)])
def test_damaged_models_never_crash_the_process(seed):
    """Truncations, bit flips and random bytes: each loads or raises ModelError.  Run in a
    child process, so that a crash in the runtime's C++ fails this test instead of killing
    the test session.  (Seeds 1 and 6 found two shape flips that crashed XNNPACK before
    edgekit checked constant-tensor and element-wise-op shapes.)"""
    r = subprocess.run([sys.executable, "-c", _FUZZ, str(FACE), str(seed), "300", RUNTIME],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=child_env())
    assert r.returncode == 0, r.stderr[-2000:]
    loaded, refused = map(int, r.stdout.split())
    assert refused >= 64 and loaded > 0


def test_mutations_helper_damages():
    # sanity of the corpus: it contains truncations and flips of the model
    blobs = list(mutations(FACE_BYTES[:200], np.random.default_rng(0), flips=5))
    assert any(len(b) < 200 for b in blobs) and any(len(b) == 200 for b in blobs)


def test_tensorflow_runtime_is_found_through_tf_lite(monkeypatch):
    """tf.lite is an attribute of the tensorflow package, not an importable module: the
    wrapper must reach it that way (checked for real with tensorflow-cpu 2.21 and
    tflite-runtime 2.14 in throwaway environments; here with a stand-in package)."""
    import types

    import edgekit.infer.runtime as rt

    fake = types.ModuleType("tensorflow")
    fake.lite = types.SimpleNamespace(Interpreter=object)
    monkeypatch.setitem(sys.modules, "tensorflow", fake)
    assert rt._import("tensorflow") is fake.lite
    broken = types.ModuleType("tensorflow")  # a tensorflow without tf.lite
    monkeypatch.setitem(sys.modules, "tensorflow", broken)
    assert rt._import("tensorflow") is None

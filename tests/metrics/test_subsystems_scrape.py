"""Every landed subsystem reports through edgekit.metrics: real calls of each public API (no
synthetic events), then a scrape of a real metrics server on 127.0.0.1, parsed with
prometheus_client's parser."""

from __future__ import annotations

import urllib.request
from importlib import resources

import numpy as np
import pytest

prometheus_client = pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from edgekit import compress  # noqa: E402
from edgekit.data import load_series  # noqa: E402
from edgekit.errors import AuthenticationError, CorruptDataError  # noqa: E402
from edgekit.memory import ReadingStore  # noqa: E402
from edgekit.metrics import enable_metrics, start_metrics_server  # noqa: E402
from edgekit.schedule import place_batch  # noqa: E402
from edgekit.schedule.workloads import EDGE_CLUSTER_10, workload  # noqa: E402
from edgekit.secure.envelope import Opener, Sealer  # noqa: E402
from edgekit.update import apply_patch, make_patch  # noqa: E402


def _scrape(port: int) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _total(samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_real_calls_of_every_subsystem_show_up_in_a_scrape():
    registry = prometheus_client.CollectorRegistry()
    metrics = enable_metrics(registry, required=True)
    try:
        with start_metrics_server(0, registry=registry, required=True) as server:
            # compress: a real series both ways, and a damaged frame refused
            x = load_series("payerne_temp_C")
            blob = compress.encode(x)
            assert compress.decode(blob).tobytes() == x.tobytes()
            with pytest.raises(CorruptDataError):
                compress.decode(blob[:-3])
            after_compress = _scrape(server.port)  # the store below encodes too
            # schedule: the 10-node cluster
            demands = workload("mix", 1.0, seed=0)
            placed = place_batch(demands, EDGE_CLUSTER_10)
            # secure: seal, open, and a tampered envelope refused
            key = bytes(range(32))
            sealer, opener = Sealer(key), Opener(key)
            env = sealer.seal(b"21.5 degC")
            assert opener.open(env) == b"21.5 degC"
            with pytest.raises(AuthenticationError):
                opener.open(env[:-1] + bytes([env[-1] ^ 1]))
            # memory: append and seal
            store = ReadingStore(segment_size=1024)
            n = store.extend(np.arange(3000, dtype=np.int64) * 10**9, x[:3000])
            store.seal()
            # update: a real patch applied
            old = x.tobytes()
            new = (x + 0.1).tobytes()
            assert apply_patch(old, make_patch(old, new)) == new
            # infer, when a runtime is installed
            from edgekit import infer

            image = resources.files("edgekit.data") / "images" / "astronaut.png"
            try:
                with infer.Detector.from_file(infer.FACE_MODEL) as det:
                    faces = det.detect(infer.load_image(str(image)))
            except ImportError:  # no TFLite runtime installed: infer is not exercised
                faces = None

            s = _scrape(server.port)
    finally:
        metrics.close()

    c = after_compress
    assert _total(c, "edgekit_compress_input_bytes_total", op="encode") == x.nbytes
    assert _total(c, "edgekit_compress_output_bytes_total", op="encode") == len(blob)
    assert _total(c, "edgekit_compress_output_bytes_total", op="decode") == x.nbytes
    assert _total(c, "edgekit_compress_corrupt_total") == 1
    assert _total(s, "edgekit_schedule_tasks_total", result="placed") == (placed >= 0).sum()
    assert _total(s, "edgekit_secure_operations_total", op="seal") == 1
    assert _total(s, "edgekit_secure_operations_total", op="open") == 1
    assert _total(s, "edgekit_secure_failures_total", kind="envelope") == 1
    assert _total(s, "edgekit_memory_appended_readings_total") == n
    assert _total(s, "edgekit_memory_sealed_readings_total") > 0
    assert _total(s, "edgekit_update_applies_total") >= 1
    if faces is not None:
        assert _total(s, "edgekit_infer_runs_total") == 1
        assert _total(s, "edgekit_infer_detections_total") == len(faces) == 1

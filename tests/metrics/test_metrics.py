"""edgekit.metrics: every telemetry event becomes Prometheus samples, proved by scraping a
real metrics server on 127.0.0.1 over HTTP and parsing with prometheus_client's parser;
edgekit.aio's own events come from real fetches against the loopback server."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

prometheus_client = pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from edgekit import _telemetry  # noqa: E402
from edgekit.errors import InputError, InputTypeError  # noqa: E402
from edgekit.metrics import (  # noqa: E402
    MAX_LABEL_VALUES,
    disable_metrics,
    enable_metrics,
    start_metrics_server,
)
from edgekit.metrics._table import HANDLERS, INSTRUMENTS  # noqa: E402
from tests._env import child_env  # noqa: E402


def telemetry_table() -> dict[str, set[str]]:
    """The event table of edgekit/_telemetry.py's docstring: event -> its field names."""
    doc = _telemetry.__doc__
    body = doc.split("=" * 28)[2:]  # the rows sit between the header and the last rule
    rows = "".join(body).splitlines()
    table: dict[str, set[str]] = {}
    event = None
    for line in rows:
        m = re.match(r"``([a-z]+\.[a-z]+)``", line)
        if m:
            event = m.group(1)
            table[event] = set()
            line = line[m.end():]
        if event:
            table[event] |= set(re.findall(r"``([a-z_]+)``", line))
    return table


TABLE = telemetry_table()

# event -> (fields to emit, samples expected: (name, labels, value))
CASES: dict[str, tuple[dict, list[tuple[str, dict, float]]]] = {
    "compress.encode": (
        {"bytes_in": 8000, "bytes_out": 1000, "seconds": 0.002, "lossless": True},
        [("edgekit_compress_input_bytes_total", {"op": "encode"}, 8000),
         ("edgekit_compress_output_bytes_total", {"op": "encode"}, 1000),
         ("edgekit_compress_duration_seconds_count", {"op": "encode"}, 1),
         ("edgekit_compress_duration_seconds_sum", {"op": "encode"}, 0.002),
         ("edgekit_compress_ratio_bucket", {"mode": "lossless", "le": "6.0"}, 0),
         ("edgekit_compress_ratio_bucket", {"mode": "lossless", "le": "8.0"}, 1),
         ("edgekit_compress_ratio_sum", {"mode": "lossless"}, 8.0)]),
    "compress.decode": (
        {"bytes_in": 1000, "bytes_out": 8000, "seconds": 0.001},
        [("edgekit_compress_input_bytes_total", {"op": "decode"}, 1000),
         ("edgekit_compress_output_bytes_total", {"op": "decode"}, 8000),
         ("edgekit_compress_duration_seconds_bucket", {"op": "decode", "le": "0.001"}, 1)]),
    "compress.corrupt": (
        {"reason": "checksum"},
        [("edgekit_compress_corrupt_total", {"reason": "checksum"}, 1)]),
    "schedule.place": (
        {"policy": "binpack", "mode": "greedy", "placed": 9, "rejected": 1, "seconds": 0.004},
        [("edgekit_schedule_runs_total", {"policy": "binpack", "mode": "greedy"}, 1),
         ("edgekit_schedule_tasks_total",
          {"policy": "binpack", "mode": "greedy", "result": "placed"}, 9),
         ("edgekit_schedule_tasks_total",
          {"policy": "binpack", "mode": "greedy", "result": "rejected"}, 1),
         ("edgekit_schedule_duration_seconds_sum", {"policy": "binpack", "mode": "greedy"},
          0.004)]),
    "infer.detect": (
        {"model": "ssd_mobilenet_v1", "preprocess_s": 0.004, "invoke_s": 0.09,
         "postprocess_s": 0.002, "detections": 3},
        [("edgekit_infer_runs_total", {"model": "ssd_mobilenet_v1"}, 1),
         ("edgekit_infer_stage_duration_seconds_sum",
          {"model": "ssd_mobilenet_v1", "stage": "invoke"}, 0.09),
         ("edgekit_infer_stage_duration_seconds_bucket",
          {"model": "ssd_mobilenet_v1", "stage": "invoke", "le": "0.05"}, 0),
         ("edgekit_infer_stage_duration_seconds_bucket",
          {"model": "ssd_mobilenet_v1", "stage": "invoke", "le": "0.1"}, 1),
         ("edgekit_infer_stage_duration_seconds_count",
          {"model": "ssd_mobilenet_v1", "stage": "preprocess"}, 1),
         ("edgekit_infer_stage_duration_seconds_sum",
          {"model": "ssd_mobilenet_v1", "stage": "postprocess"}, 0.002),
         ("edgekit_infer_detections_total", {"model": "ssd_mobilenet_v1"}, 3)]),
    "secure.seal": ({"bytes": 512},
                    [("edgekit_secure_operations_total", {"op": "seal"}, 1),
                     ("edgekit_secure_bytes_total", {"op": "seal"}, 512)]),
    "secure.open": ({"bytes": 256},
                    [("edgekit_secure_operations_total", {"op": "open"}, 1),
                     ("edgekit_secure_bytes_total", {"op": "open"}, 256)]),
    "secure.failure": ({"kind": "envelope", "reason": "replay"},
                       [("edgekit_secure_failures_total",
                         {"kind": "envelope", "reason": "replay"}, 1)]),
    "memory.append": ({"readings": 100},
                      [("edgekit_memory_appended_readings_total", {}, 100)]),
    "memory.seal": ({"readings": 100, "bytes_in": 1300, "bytes_out": 210},
                    [("edgekit_memory_sealed_readings_total", {}, 100),
                     ("edgekit_memory_sealed_input_bytes_total", {}, 1300),
                     ("edgekit_memory_sealed_output_bytes_total", {}, 210)]),
    "memory.drop": ({"readings": 7, "reason": "capacity"},
                    [("edgekit_memory_dropped_readings_total", {"reason": "capacity"}, 7)]),
    "memory.usage": ({"nbytes": 4096}, [("edgekit_memory_usage_bytes", {}, 4096)]),
    "aio.request": ({"outcome": "timeout", "seconds": 0.5, "attempts": 3},
                    [("edgekit_aio_requests_total", {"outcome": "timeout"}, 1),
                     ("edgekit_aio_request_duration_seconds_sum", {"outcome": "timeout"}, 0.5),
                     ("edgekit_aio_retries_total", {"outcome": "timeout"}, 2)]),
    "update.apply": ({"method": "bsdiff", "bytes": 2048, "outcome": "ok"},
                     [("edgekit_update_applies_total", {"method": "bsdiff", "outcome": "ok"}, 1),
                      ("edgekit_update_bytes_total", {"method": "bsdiff"}, 2048)]),
    "twin.update": ({"accepted": 12}, [("edgekit_twin_updates_total", {}, 12)]),
    "twin.reject": ({"op": "update", "code": 409},
                    [("edgekit_twin_rejections_total", {"op": "update", "code": "409"}, 1),
                     ("edgekit_twin_version_conflicts_total", {}, 1)]),
    "twin.queue": ({"depth": 7}, [("edgekit_twin_queue_depth", {}, 7)]),
    "twin.sync": ({"lag_s": 0.03},
                  [("edgekit_twin_sync_lag_seconds_bucket", {"le": "0.025"}, 0),
                   ("edgekit_twin_sync_lag_seconds_bucket", {"le": "0.05"}, 1),
                   ("edgekit_twin_sync_lag_seconds_sum", {}, 0.03)]),
    "market.round": ({"mechanism": "halves", "trades": 7, "welfare_per_h": 2.5,
                      "payments_per_h": 1.25, "receipts_per_h": 1.0, "utilization": 0.75},
                     [("edgekit_market_rounds_total", {"mechanism": "halves"}, 1),
                      ("edgekit_market_trades_total", {"mechanism": "halves"}, 7),
                      ("edgekit_market_welfare_per_hour", {"mechanism": "halves"}, 2.5),
                      ("edgekit_market_payments_per_hour", {"mechanism": "halves"}, 1.25),
                      ("edgekit_market_receipts_per_hour", {"mechanism": "halves"}, 1.0),
                      ("edgekit_market_utilization", {"mechanism": "halves"}, 0.75)]),
}


class Scraper:
    """Fresh instruments (enabled for one test) on the registry that a metrics server,
    shared by the module, serves."""

    def __init__(self, server, registry) -> None:
        self.registry = registry
        self.server = server
        self.metrics = enable_metrics(registry, required=True)

    def close(self) -> None:
        self.metrics.close()

    def samples(self) -> dict[tuple[str, frozenset], float]:
        """GET /metrics over HTTP and parse it with prometheus_client's parser."""
        with urllib.request.urlopen(self.server.url, timeout=10) as resp:
            assert resp.status == 200
            text = resp.read().decode()
        return {(s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def value(self, name: str, **labels: str) -> float:
        return self.samples().get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def metrics_server():
    registry = prometheus_client.CollectorRegistry()
    with start_metrics_server(0, registry=registry, required=True) as server:
        yield server, registry


@pytest.fixture
def scraper(metrics_server):
    s = Scraper(*metrics_server)
    yield s
    s.close()


def test_every_telemetry_event_and_field_is_mapped():
    assert len(TABLE) >= 14
    assert set(HANDLERS) == set(TABLE), "edgekit.metrics._table.HANDLERS != the telemetry table"
    for event, fields in TABLE.items():
        assert set(HANDLERS[event][0]) == fields, event
    assert set(CASES) == set(TABLE), "add a scrape case for every telemetry event"


@pytest.mark.parametrize("event", sorted(TABLE))
def test_event_reaches_a_scrape(scraper, event):
    fields, expected = CASES[event]
    assert set(fields) == TABLE[event]  # the case sends every field of the table
    _telemetry.emit(event, **fields)
    samples = scraper.samples()
    assert samples[("edgekit_events_total", frozenset({"event": event}.items()))] == 1
    for name, labels, value in expected:
        key = (name, frozenset(labels.items()))
        assert key in samples, (key, sorted(k for k in samples if k[0] == name))
        assert samples[key] == pytest.approx(value), key
    assert scraper.value("edgekit_metrics_malformed_fields_total", event=event) == 0


def test_real_fetches_report_their_outcomes(scraper, server):
    import asyncio

    from edgekit.aio import Response, fetch_all

    urls = ([server.url(f"m{i}") for i in range(20)]
            + [server.url("mflaky", fail=1), server.url("m500", status=500),
               server.url("mhang", hang=1)])
    results = asyncio.run(fetch_all(urls, timeout=0.3, retries=1, backoff=0.01))
    assert sum(isinstance(r, Response) for r in results) == 21
    s = scraper.samples()

    def v(name, **labels):
        return s.get((name, frozenset(labels.items())), 0.0)

    assert v("edgekit_events_total", event="aio.request") == 23
    assert v("edgekit_aio_requests_total", outcome="ok") == 21
    assert v("edgekit_aio_requests_total", outcome="error") == 1
    assert v("edgekit_aio_requests_total", outcome="timeout") == 1
    assert v("edgekit_aio_retries_total", outcome="ok") == 1
    assert v("edgekit_aio_retries_total", outcome="error") == 1
    assert v("edgekit_aio_retries_total", outcome="timeout") == 1
    assert v("edgekit_aio_request_duration_seconds_count", outcome="ok") == 21
    assert v("edgekit_aio_request_duration_seconds_sum", outcome="timeout") >= 0.6
    assert v("edgekit_aio_request_duration_seconds_bucket", outcome="ok", le="60.0") == 21


def test_label_values_are_bounded(scraper):
    for i in range(3 * MAX_LABEL_VALUES):
        _telemetry.emit("compress.corrupt", reason=f"reason number {i}")
    _telemetry.emit("compress.corrupt", reason="x" * 500)
    series = {dict(k[1])["reason"]: v for k, v in scraper.samples().items()
              if k[0] == "edgekit_compress_corrupt_total"}
    assert len(series) == MAX_LABEL_VALUES + 1
    assert series["other"] == 2 * MAX_LABEL_VALUES + 1
    assert sum(series.values()) == 3 * MAX_LABEL_VALUES + 1


def test_unknown_events_and_malformed_fields_never_raise(scraper):
    _telemetry.emit("nobody.knows", x=1)
    _telemetry.emit("memory.usage", nbytes=-5)
    _telemetry.emit("compress.encode", bytes_in="many", bytes_out=float("nan"), seconds=True)
    _telemetry.emit("aio.request")  # no fields at all
    s = scraper.samples()
    assert s[("edgekit_events_total", frozenset({"event": "other"}.items()))] == 1
    assert s[("edgekit_metrics_malformed_fields_total",
              frozenset({"event": "memory.usage"}.items()))] == 1
    assert s[("edgekit_metrics_malformed_fields_total",
              frozenset({"event": "compress.encode"}.items()))] == 3
    assert ("edgekit_memory_usage_bytes", frozenset()) in s  # the gauge exists, untouched
    assert s[("edgekit_memory_usage_bytes", frozenset())] == 0
    assert s[("edgekit_aio_requests_total", frozenset({"outcome": "none"}.items()))] == 1


def test_disable_stops_counting_and_unregisters(scraper):
    _telemetry.emit("memory.append", readings=5)
    assert scraper.value("edgekit_memory_appended_readings_total") == 5
    scraper.metrics.close()
    _telemetry.emit("memory.append", readings=5)
    assert not any(k[0].startswith("edgekit_") for k in scraper.samples())
    again = enable_metrics(scraper.registry)
    assert again is not scraper.metrics
    _telemetry.emit("memory.append", readings=2)
    assert scraper.value("edgekit_memory_appended_readings_total") == 2
    disable_metrics(scraper.registry)
    assert not _telemetry.enabled() or again not in _telemetry._SINKS


def test_global_registry_by_default():
    metrics = enable_metrics()
    try:
        assert metrics.registry is prometheus_client.REGISTRY
        assert enable_metrics() is metrics  # once per registry
        with start_metrics_server(0) as server:  # serves the global registry too
            assert server.addr == "127.0.0.1" and server.port > 0
            _telemetry.emit("secure.failure", kind="tls", reason="untrusted")
            with urllib.request.urlopen(server.url, timeout=10) as resp:
                text = resp.read().decode()
        assert 'edgekit_secure_failures_total{kind="tls",reason="untrusted"} 1.0' in text
    finally:
        disable_metrics()
    assert prometheus_client.REGISTRY.get_sample_value(
        "edgekit_secure_failures_total", {"kind": "tls", "reason": "untrusted"}) is None


def test_server_arguments():
    for bad, error in ((-1, InputError), (70000, InputError), ("80", InputTypeError),
                       (True, InputTypeError)):
        with pytest.raises(error):
            start_metrics_server(bad)
    with pytest.raises(InputTypeError):
        start_metrics_server(0, addr="")
    with pytest.raises(InputError):
        enable_metrics(prometheus_client.CollectorRegistry(), namespace="bad-name")


CHILD = """
import logging, sys
sys.modules["prometheus_client"] = None
logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
from edgekit import _telemetry
from edgekit.errors import RuntimeUnavailableError
from edgekit.metrics import available, enable_metrics, start_metrics_server
assert not available()
assert enable_metrics() is None and start_metrics_server(0) is None
assert not _telemetry.enabled()
for call in (lambda: enable_metrics(required=True),
             lambda: start_metrics_server(0, required=True)):
    try:
        call()
    except RuntimeUnavailableError as err:
        assert err.extra == "metrics", err
    else:
        raise AssertionError("no error")
print("ok")
"""


def test_without_prometheus_client_it_is_a_no_op():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=60, env=child_env())
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert out.stderr.count("pip install 'edgekit[metrics]'") == 1  # warned once


def test_instrument_names_follow_prometheus_conventions():
    for inst in INSTRUMENTS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", inst.name)
        assert not inst.name.endswith("_total")
        if inst.kind == "histogram" and "ratio" not in inst.name:
            assert inst.name.endswith("_seconds"), inst.name


def test_docs_list_every_metric():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    for inst in INSTRUMENTS:
        name = f"edgekit_{inst.name}" + ("_total" if inst.kind == "counter" else "")
        assert f"`{name}`" in doc, name


def test_threads_emitting_at_once_lose_nothing(scraper):
    import threading

    def work():
        for _ in range(500):
            _telemetry.emit("aio.request", outcome="ok", seconds=0.01, attempts=2)
            _telemetry.emit("memory.drop", readings=1, reason="age")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert scraper.value("edgekit_aio_requests_total", outcome="ok") == 4000
    assert scraper.value("edgekit_aio_retries_total", outcome="ok") == 4000
    assert scraper.value("edgekit_aio_request_duration_seconds_count", outcome="ok") == 4000
    assert scraper.value("edgekit_memory_dropped_readings_total", reason="age") == 4000

"""Which Prometheus instrument each telemetry event of :mod:`edgekit._telemetry` feeds.

One row of :data:`INSTRUMENTS` per instrument (kind, name without the namespace, help,
label names, histogram buckets) and one entry of :data:`HANDLERS` per event: the fields it
reads and a function that updates the instruments from them.  Every string field that
becomes a label goes through a bounded label set (see ``sink._Labels``), so a subsystem that
puts free text in a ``reason`` cannot blow up the number of series.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Recorder(Protocol):
    def num(self, fields: Mapping[str, Any], key: str) -> float | None: ...
    def label(self, fields: Mapping[str, Any], key: str) -> str: ...
    def inc(self, name: str, value: float = 1.0, **labels: Any) -> None: ...
    def observe(self, name: str, value: float, **labels: str) -> None: ...
    def set(self, name: str, value: float, **labels: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Instrument:
    kind: str  # "counter", "histogram" or "gauge"
    name: str  # without the namespace; counters without "_total" (the client adds it)
    doc: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None


DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0, 30.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SYNC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0, 300.0, 3600.0)
RATIO_BUCKETS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0)

INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("counter", "events", "Telemetry events received, by event name.", ("event",)),
    Instrument("counter", "metrics_malformed_fields",
               "Event fields ignored because they were not a finite number >= 0.", ("event",)),
    # compress
    Instrument("counter", "compress_input_bytes", "Bytes given to the codec.", ("op",)),
    Instrument("counter", "compress_output_bytes", "Bytes the codec produced.", ("op",)),
    Instrument("histogram", "compress_duration_seconds", "Time per encode or decode call.",
               ("op",), DURATION_BUCKETS),
    Instrument("histogram", "compress_ratio", "Compression ratio per encode "
               "(input bytes / output bytes).", ("mode",), RATIO_BUCKETS),
    Instrument("counter", "compress_corrupt", "Encoded inputs refused as corrupt.",
               ("reason",)),
    # schedule
    Instrument("counter", "schedule_runs", "Placement calls.", ("policy", "mode")),
    Instrument("counter", "schedule_tasks", "Tasks placed or rejected.",
               ("policy", "mode", "result")),
    Instrument("histogram", "schedule_duration_seconds", "Time per placement call.",
               ("policy", "mode"), DURATION_BUCKETS),
    # infer
    Instrument("counter", "infer_runs", "Detection calls (images).", ("model",)),
    Instrument("histogram", "infer_stage_duration_seconds",
               "Time per inference stage (preprocess, invoke, postprocess).",
               ("model", "stage"), DURATION_BUCKETS),
    Instrument("counter", "infer_detections", "Objects detected.", ("model",)),
    # secure
    Instrument("counter", "secure_operations", "Envelopes sealed or opened.", ("op",)),
    Instrument("counter", "secure_bytes", "Plaintext bytes sealed or opened.", ("op",)),
    Instrument("counter", "secure_failures", "Security failures, by kind and reason.",
               ("kind", "reason")),
    # memory
    Instrument("counter", "memory_appended_readings", "Readings appended to stores."),
    Instrument("counter", "memory_sealed_readings", "Readings sealed into compact blocks."),
    Instrument("counter", "memory_sealed_input_bytes", "Bytes of readings before sealing."),
    Instrument("counter", "memory_sealed_output_bytes", "Bytes of sealed blocks."),
    Instrument("counter", "memory_dropped_readings", "Readings dropped, by reason.",
               ("reason",)),
    Instrument("gauge", "memory_usage_bytes", "Bytes held by the store that reported last."),
    # aio
    Instrument("counter", "aio_requests", "Fan-in requests finished, by outcome.",
               ("outcome",)),
    Instrument("histogram", "aio_request_duration_seconds",
               "Time per request, all attempts included.", ("outcome",), REQUEST_BUCKETS),
    Instrument("counter", "aio_retries", "Extra attempts (retries) made by requests.",
               ("outcome",)),
    # update
    Instrument("counter", "update_applies", "Updates applied or refused, by method and "
               "outcome.", ("method", "outcome")),
    Instrument("counter", "update_bytes", "Bytes of update artifacts applied.", ("method",)),
    # twin
    Instrument("counter", "twin_updates", "Shadow updates accepted (committed)."),
    Instrument("counter", "twin_rejections", "Shadow requests refused, by operation and the "
               "service's code.", ("op", "code")),
    Instrument("counter", "twin_version_conflicts",
               "Shadow updates refused because their version was stale (409)."),
    Instrument("gauge", "twin_queue_depth",
               "Reported changes a device has queued and not yet had accepted (the device "
               "that reported last)."),
    Instrument("histogram", "twin_sync_lag_seconds",
               "Time from a device queueing a reported change to its acceptance.", (),
               SYNC_BUCKETS),
    # market
    Instrument("counter", "market_rounds", "Market clearing rounds.", ("mechanism",)),
    Instrument("counter", "market_trades", "Trades made by market clearings.",
               ("mechanism",)),
    Instrument("gauge", "market_welfare_per_hour",
               "Welfare (value - node cost) of the running trades, per hour.", ("mechanism",)),
    Instrument("gauge", "market_payments_per_hour",
               "What the applications of running trades pay, per hour.", ("mechanism",)),
    Instrument("gauge", "market_receipts_per_hour",
               "What the nodes of running trades receive, per hour.", ("mechanism",)),
    Instrument("gauge", "market_utilization",
               "Share of the up nodes' capacity held by running trades (mean over "
               "resources).", ("mechanism",)),
)


def _codec(op: str) -> Callable[[Recorder, Mapping[str, Any]], None]:
    def handle(m: Recorder, f: Mapping[str, Any]) -> None:
        b_in, b_out, seconds = m.num(f, "bytes_in"), m.num(f, "bytes_out"), m.num(f, "seconds")
        if b_in is not None:
            m.inc("compress_input_bytes", b_in, op=op)
        if b_out is not None:
            m.inc("compress_output_bytes", b_out, op=op)
        if seconds is not None:
            m.observe("compress_duration_seconds", seconds, op=op)
        if op == "encode" and b_in is not None and b_out:
            lossless = f.get("lossless")
            mode = "unknown" if lossless is None else ("lossless" if lossless else "lossy")
            m.observe("compress_ratio", b_in / b_out, mode=mode)

    return handle


def _corrupt(m: Recorder, f: Mapping[str, Any]) -> None:
    m.inc("compress_corrupt", reason=m.label(f, "reason"))


def _place(m: Recorder, f: Mapping[str, Any]) -> None:
    labels = {"policy": m.label(f, "policy"), "mode": m.label(f, "mode")}
    m.inc("schedule_runs", 1.0, **labels)
    for result in ("placed", "rejected"):
        n = m.num(f, result)
        if n is not None:
            m.inc("schedule_tasks", n, result=result, **labels)
    seconds = m.num(f, "seconds")
    if seconds is not None:
        m.observe("schedule_duration_seconds", seconds, **labels)


def _detect(m: Recorder, f: Mapping[str, Any]) -> None:
    model = m.label(f, "model")
    m.inc("infer_runs", model=model)
    for stage in ("preprocess", "invoke", "postprocess"):
        seconds = m.num(f, f"{stage}_s")
        if seconds is not None:
            m.observe("infer_stage_duration_seconds", seconds, model=model, stage=stage)
    n = m.num(f, "detections")
    if n is not None:
        m.inc("infer_detections", n, model=model)


def _envelope(op: str) -> Callable[[Recorder, Mapping[str, Any]], None]:
    def handle(m: Recorder, f: Mapping[str, Any]) -> None:
        m.inc("secure_operations", op=op)
        n = m.num(f, "bytes")
        if n is not None:
            m.inc("secure_bytes", n, op=op)

    return handle


def _security_failure(m: Recorder, f: Mapping[str, Any]) -> None:
    m.inc("secure_failures", kind=m.label(f, "kind"), reason=m.label(f, "reason"))


def _append(m: Recorder, f: Mapping[str, Any]) -> None:
    n = m.num(f, "readings")
    if n is not None:
        m.inc("memory_appended_readings", n)


def _seal(m: Recorder, f: Mapping[str, Any]) -> None:
    for field, name in (("readings", "memory_sealed_readings"),
                        ("bytes_in", "memory_sealed_input_bytes"),
                        ("bytes_out", "memory_sealed_output_bytes")):
        n = m.num(f, field)
        if n is not None:
            m.inc(name, n)


def _drop(m: Recorder, f: Mapping[str, Any]) -> None:
    n = m.num(f, "readings")
    if n is not None:
        m.inc("memory_dropped_readings", n, reason=m.label(f, "reason"))


def _usage(m: Recorder, f: Mapping[str, Any]) -> None:
    n = m.num(f, "nbytes")
    if n is not None:
        m.set("memory_usage_bytes", n)


def _request(m: Recorder, f: Mapping[str, Any]) -> None:
    outcome = m.label(f, "outcome")
    m.inc("aio_requests", outcome=outcome)
    seconds = m.num(f, "seconds")
    if seconds is not None:
        m.observe("aio_request_duration_seconds", seconds, outcome=outcome)
    attempts = m.num(f, "attempts")
    if attempts is not None and attempts > 1:
        m.inc("aio_retries", attempts - 1, outcome=outcome)


def _apply(m: Recorder, f: Mapping[str, Any]) -> None:
    method = m.label(f, "method")
    m.inc("update_applies", method=method, outcome=m.label(f, "outcome"))
    n = m.num(f, "bytes")
    if n is not None:
        m.inc("update_bytes", n, method=method)


def _twin_update(m: Recorder, f: Mapping[str, Any]) -> None:
    n = m.num(f, "accepted")
    if n is not None:
        m.inc("twin_updates", n)


_TWIN_CODES = frozenset({"400", "401", "403", "404", "409", "413", "415", "429", "500", "503"})


def _twin_reject(m: Recorder, f: Mapping[str, Any]) -> None:
    code = str(f.get("code"))
    # the service's codes are a short documented list; anything else is one value
    m.inc("twin_rejections", op=m.label(f, "op"), code=code if code in _TWIN_CODES else "other")
    if code == "409":
        m.inc("twin_version_conflicts")


def _twin_queue(m: Recorder, f: Mapping[str, Any]) -> None:
    n = m.num(f, "depth")
    if n is not None:
        m.set("twin_queue_depth", n)


def _twin_sync(m: Recorder, f: Mapping[str, Any]) -> None:
    seconds = m.num(f, "lag_s")
    if seconds is not None:
        m.observe("twin_sync_lag_seconds", seconds)


def _market_round(m: Recorder, f: Mapping[str, Any]) -> None:
    mechanism = m.label(f, "mechanism")
    m.inc("market_rounds", mechanism=mechanism)
    n = m.num(f, "trades")
    if n is not None:
        m.inc("market_trades", n, mechanism=mechanism)
    for field, name in (("welfare_per_h", "market_welfare_per_hour"),
                        ("payments_per_h", "market_payments_per_hour"),
                        ("receipts_per_h", "market_receipts_per_hour"),
                        ("utilization", "market_utilization")):
        x = m.num(f, field)
        if x is not None:
            m.set(name, x, mechanism=mechanism)


Handler = Callable[[Recorder, Mapping[str, Any]], None]

# event -> (the fields it reads, the handler); the test holds this to _telemetry's table
HANDLERS: dict[str, tuple[tuple[str, ...], Handler]] = {
    "compress.encode": (("bytes_in", "bytes_out", "seconds", "lossless"), _codec("encode")),
    "compress.decode": (("bytes_in", "bytes_out", "seconds"), _codec("decode")),
    "compress.corrupt": (("reason",), _corrupt),
    "schedule.place": (("policy", "mode", "placed", "rejected", "seconds"), _place),
    "infer.detect": (("model", "preprocess_s", "invoke_s", "postprocess_s", "detections"),
                     _detect),
    "secure.seal": (("bytes",), _envelope("seal")),
    "secure.open": (("bytes",), _envelope("open")),
    "secure.failure": (("kind", "reason"), _security_failure),
    "memory.append": (("readings",), _append),
    "memory.seal": (("readings", "bytes_in", "bytes_out"), _seal),
    "memory.drop": (("readings", "reason"), _drop),
    "memory.usage": (("nbytes",), _usage),
    "aio.request": (("outcome", "seconds", "attempts"), _request),
    "update.apply": (("method", "bytes", "outcome"), _apply),
    "twin.update": (("accepted",), _twin_update),
    "twin.reject": (("op", "code"), _twin_reject),
    "twin.queue": (("depth",), _twin_queue),
    "twin.sync": (("lag_s",), _twin_sync),
    "market.round": (("mechanism", "trades", "welfare_per_h", "payments_per_h",
                      "receipts_per_h", "utilization"), _market_round),
}

"""edgekit.federated.flower: edgekit strategies, clients and codecs on Flower (flwr 1.42).

Two levels:

* in process: :class:`FlowerStrategy` and :func:`client_app` talk through a loopback
  ``Grid`` (Flower's own Message objects, no transport): a run equals
  :func:`~edgekit.federated.simulate` bit for bit (raw and top-k uplinks), bad replies are
  refused and the round goes on, codec bytes are counted;
* a real local deployment (``slow``): a SuperLink and three SuperNodes as processes on
  127.0.0.1, over TLS, and ``flwr run`` of tests/federated/flower_app, whose accuracy per
  round must equal simulate()'s for the same rounds (plain FedAvg, and secure aggregation).

Flower pins its own cryptography and packaging versions, so it lives in a venv of its own
(.ci/run builds it): where ``flwr`` is not importable the whole file skips.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("EDGEKIT_TEST_FLOWER") == "1":  # CI's Flower venv: a broken install fails
    import flwr  # noqa: F401
else:
    pytest.importorskip("flwr", reason="Flower is not installed in this environment (CI runs "
                        "this file in Flower's own venv: see .ci/run)")
pytest.importorskip("sklearn", reason="the digits task ships with scikit-learn")

from flwr.app import (  # noqa: E402
    Array,
    ArrayRecord,
    ConfigRecord,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.clientapp import ClientApp  # noqa: E402

from edgekit.errors import CorruptDataError, InputError, InputTypeError  # noqa: E402
from edgekit.federated import _tasks, simulate  # noqa: E402
from edgekit.federated._flower_loopback import LoopbackGrid, server_identity  # noqa: E402
from edgekit.federated._wire import pack_arrays  # noqa: E402
from edgekit.federated.compression import Float32Codec, QuantizedCodec, TopKCodec  # noqa: E402
from edgekit.federated.flower import (  # noqa: E402
    STYPE_PARAMS,
    STYPE_UPDATE,
    FlowerStrategy,
    client_app,
    from_arrayrecord,
    numpy_arrays_mod,
    to_arrayrecord,
    update_codec_mod,
)
from edgekit.federated.secagg import SecAggConfig, plain_fixed_point_sum  # noqa: E402

APP = Path(__file__).with_name("flower_app")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _server_identity():
    with server_identity():
        yield


@pytest.fixture(scope="module")
def digits():
    task = _tasks.load_task("digits")
    clients, init = _tasks.fleet(task, n_clients=4, alpha=0.5, seed=3)
    return task, clients, init


def _cid(grid: LoopbackGrid, msg: Message) -> str:
    return grid.contexts[msg.metadata.dst_node_id].node_config["client-id"]


def _by_id(clients):
    return lambda context: clients[context.node_config["client-id"]]


# --- records -----------------------------------------------------------------------------------


def test_arrayrecord_round_trip_and_refusals():
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(64, 10)).astype(np.float32),
              rng.normal(size=10).astype(np.float32)]
    rec = to_arrayrecord(params)
    (arr,) = rec.values()
    assert arr.stype == STYPE_PARAMS and arr.data == pack_arrays(params)
    assert len(arr.data) == 2600 + 8 + 4 + (2 + 8 + 4) + (2 + 4 + 4)  # raw + headers + CRC
    for a, b in zip(from_arrayrecord(rec), params, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    # Flower's own numpy arrays are read too
    for a, b in zip(from_arrayrecord(ArrayRecord(params)), params, strict=True):
        assert np.array_equal(a, b)
    arr.data = arr.data[:100] + bytes([arr.data[100] ^ 1]) + arr.data[101:]
    with pytest.raises(CorruptDataError):
        from_arrayrecord(rec)
    arr.data = arr.data[:-7]
    with pytest.raises(CorruptDataError):
        from_arrayrecord(rec)


# --- in process ----------------------------------------------------------------------------------


def _run_both(digits, *, rounds, codec_factory=None, fraction=0.5, strategy="fedavg",
              secagg=None, tamper=None):
    task, clients, init = digits
    evaluate = _tasks.evaluator(task)
    sim = simulate(_tasks.make_strategy(strategy, init, n_clients=4), clients, rounds=rounds,
                   fraction=fraction, min_clients=2, seed=11, evaluate_fn=evaluate,
                   codec=codec_factory() if codec_factory else None,
                   secure_aggregation=secagg, progress=False)
    app = client_app(_by_id(clients), codec=codec_factory() if codec_factory else None,
                     secure_aggregation=secagg)
    grid = LoopbackGrid(app, list(clients), tamper)
    adapter = FlowerStrategy(_tasks.make_strategy(strategy, init, n_clients=4),
                             fraction=fraction, seed=11,
                             codec=codec_factory() if codec_factory else None,
                             secure_aggregation=secagg)
    fl = adapter.run(grid, rounds=rounds, evaluate_fn=evaluate)
    return sim, fl, grid


@pytest.mark.parametrize("strategy", ["fedavg", "fedadam", "scaffold", "median", "krum"])
def test_loopback_run_equals_simulate(digits, strategy):
    """Any edgekit strategy, driven through Flower's Message API, computes what simulate()
    computes (SCAFFOLD: the control variates travel as extra arrays; robust aggregators:
    every update)."""
    sim, fl, grid = _run_both(digits, rounds=6, strategy=strategy)
    assert grid.queries == 4  # each node asked its client id once
    for s, f in zip(sim.rounds, fl.rounds, strict=True):
        assert f.selected == s.selected and f.accepted == s.accepted and not f.failures
        assert f.bytes_down == s.bytes_down and f.bytes_up == s.bytes_up
        assert f.metrics["accuracy"] == s.metrics["accuracy"]
    for a, b in zip(fl.parameters, sim.parameters, strict=True):
        assert a.dtype == np.float32 and np.array_equal(a, b)
    assert fl.final("accuracy") > 0.3  # it learns (chance: 0.1; 6 rounds, 2 of 4 skewed
    # clients a round)


def test_secure_aggregation_equals_simulate_and_hides_updates(digits):
    """The protocol's four exchanges over Flower messages (a fresh SecAggClient replayed
    from context.state for each): the model equals simulate()'s secure run bit for bit
    (the secure sum is the plain fixed-point sum whatever the masks), every protocol byte is
    counted, and no reply carries an array or an example count."""
    seen = []

    def spy(msg, reply):
        seen.append(reply)
        return [reply]

    cfg = SecAggConfig()
    sim, fl, grid = _run_both(digits, rounds=3, secagg=cfg, fraction=0.75, tamper=spy,
                              strategy="scaffold")
    for s, f in zip(sim.rounds, fl.rounds, strict=True):
        assert f.selected == s.selected and f.accepted == s.accepted and f.aborted is None
        assert f.bytes_up == s.bytes_up and f.bytes_down == s.bytes_down
        assert f.metrics["accuracy"] == s.metrics["accuracy"]
    for a, b in zip(fl.parameters, sim.parameters, strict=True):
        assert np.array_equal(a, b)
    train = [r for r in seen if r.metadata.message_type.startswith("train")]
    assert len(train) == 3 * 3 * 4  # 3 rounds x 3 clients x 4 protocol messages
    for reply in train:
        assert not reply.content.array_records and not reply.content.metric_records
    # the masked input alone is 4 bytes a vector entry (model + control variates + n_k)
    assert all(n > 4 * (2 * 650 + 1) for r in fl.rounds for n in r.bytes_up.values())


def test_secure_aggregation_survives_a_dropout_after_sending(digits):
    """A client whose unmask reply never comes stays in the sum (its masked input arrived);
    one that vanishes before its masked input is left out, its masks removed through the
    others' shares.  The model is FedAvg of exactly the senders."""
    task, clients, init = digits
    sent_config = {}

    def tamper(msg, reply):
        cid = _cid(grid, msg)
        if msg.metadata.message_type == "train":
            sent_config[cid] = dict(msg.content["config"].items())
        stage = len(grid.contexts[msg.metadata.dst_node_id].state.config_records
                    ["edgekit.secagg"]["msgs"]) if msg.metadata.message_type != "query" else 0
        if cid == "c1" and stage == 3:  # answered the forwarded shares: drops before masking
            return []
        if cid == "c2" and stage == 4:  # sent its masked input, then drops
            return []
        return [reply]

    cfg = SecAggConfig(threshold=2)
    grid = LoopbackGrid(client_app(_by_id(clients), secure_aggregation=cfg), list(clients),
                         tamper)
    adapter = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=1.0, seed=0,
                             secure_aggregation=cfg)
    hist = adapter.run(grid, rounds=1)
    rec = hist.rounds[0]
    assert sorted(rec.accepted) == ["c0", "c2", "c3"] and rec.aborted is None
    flat = np.concatenate([a.ravel().astype(np.float64) for a in init])
    vectors = {}
    for cid in rec.accepted:
        r = clients[cid].fit(init, sent_config[cid])
        got = np.concatenate([a.ravel().astype(np.float64) for a in r.parameters])
        vectors[cid] = np.concatenate([r.num_examples * (got - flat), [r.num_examples]])
    total = plain_fixed_point_sum(vectors, cfg)
    want = flat + total[:-1] / total[-1]
    have = np.concatenate([a.ravel().astype(np.float64) for a in hist.parameters])
    assert np.allclose(have, want, rtol=0, atol=1e-6)


def test_secagg_client_refuses_a_plain_round_and_a_second_unmask(digits):
    _, clients, init = digits
    cfg = SecAggConfig()
    grid = LoopbackGrid(client_app(_by_id(clients), secure_aggregation=cfg), list(clients))
    adapter = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=1.0, seed=0)
    hist = adapter.run(grid, rounds=1)  # the server asks for plain updates: nobody sends one
    assert hist.rounds[0].accepted == [] and all(
        "only masked" in why for why in hist.rounds[0].failures.values())
    # replay a finished client's last request: refused, as the original client would
    secure = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=1.0, seed=0,
                            secure_aggregation=cfg)
    last = {}

    def keep(msg, reply):
        last[msg.metadata.dst_node_id] = msg
        return [reply]

    grid.tamper = keep
    assert secure.run(grid, rounds=1).rounds[0].aborted is None
    node, msg = next(iter(last.items()))
    with pytest.raises(Exception, match="answers no more"):
        grid.app(msg, grid.contexts[node])


def test_a_node_joining_mid_run_is_named_and_sampled(digits):
    _, clients, init = digits

    def tamper(msg, reply):
        if msg.metadata.message_type == "train" and len(grid.contexts) == 3:
            grid.add_node("c3")  # connects while round 1 trains
        return [reply]

    grid = LoopbackGrid(client_app(_by_id(clients)), ["c0", "c1", "c2"], tamper)
    hist = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=1.0,
                          seed=0).run(grid, rounds=2)
    assert sorted(hist.rounds[0].selected) == ["c0", "c1", "c2"]
    assert sorted(hist.rounds[1].accepted) == ["c0", "c1", "c2", "c3"]
    assert grid.queries == 4  # the three at the start, the newcomer once


class _ScaffoldState:
    """SoftmaxClient with its SCAFFOLD control variate as get_state/set_state (what
    client_app persists between Flower's per-message processes)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def fit(self, parameters, config):
        return self.inner.fit(parameters, config)

    def evaluate(self, parameters, config):
        return self.inner.evaluate(parameters, config)

    def get_state(self):
        return {"c_i": self.inner._c_i, "scaffold_id": self.inner._scaffold_id}

    def set_state(self, state):
        self.inner._c_i = [a.astype(np.float64) for a in state.get("c_i", [])] or None
        self.inner._scaffold_id = state.get("scaffold_id")


@pytest.mark.parametrize("keep_state", [True, False])
def test_client_state_survives_a_new_client_per_message(digits, keep_state):
    """A new client object for every message, as in a deployment: SCAFFOLD equals
    simulate() when the client's state goes through context.state, and not without it."""
    import copy

    _, clients, init = digits

    def fresh(context):
        client = copy.deepcopy(clients[context.node_config["client-id"]])
        client._c_i, client._scaffold_id = None, None
        return _ScaffoldState(client) if keep_state else client

    sim = simulate(_tasks.make_strategy("scaffold", init, n_clients=4),
                   copy.deepcopy(clients), rounds=4, fraction=1.0, seed=2, progress=False)
    grid = LoopbackGrid(client_app(fresh), list(clients))
    fl = FlowerStrategy(_tasks.make_strategy("scaffold", init, n_clients=4), fraction=1.0,
                        seed=2).run(grid, rounds=4)
    same = all(np.array_equal(a, b) for a, b in zip(fl.parameters, sim.parameters,
                                                    strict=True))
    assert same is keep_state


def test_client_side_evaluation(digits):
    task, clients, init = digits
    grid = LoopbackGrid(client_app(_by_id(clients)), list(clients))
    adapter = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=1.0, seed=0,
                             fraction_evaluate=1.0)
    hist = adapter.run(grid, rounds=2)
    for rec in hist.rounds:
        assert 0.0 < rec.metrics["client_accuracy"] <= 1.0 and rec.metrics["client_loss"] > 0
    # the last round's: the example-weighted mean of each client's own evaluation
    parts = [c.evaluate(hist.parameters, {}) for c in clients.values()]
    total = sum(p.num_examples for p in parts)
    want = sum(p.metrics["accuracy"] * p.num_examples for p in parts) / total
    assert hist.rounds[-1].metrics["client_accuracy"] == pytest.approx(want, abs=1e-12)


def test_topk_error_feedback_survives_a_new_process_per_message(digits):
    """Flower runs each message in a fresh ClientApp process: the residual must come from
    context.state.  The loopback run equals simulate() with the same (deterministic) top-k
    codec only if the residual is carried from round to round."""
    sim, fl, grid = _run_both(digits, rounds=5, codec_factory=lambda: TopKCodec(0.1),
                              fraction=1.0)
    for a, b in zip(fl.parameters, sim.parameters, strict=True):
        assert np.array_equal(a, b)
    assert [r.bytes_up for r in fl.rounds] == [r.bytes_up for r in sim.rounds]
    assert all(0 < n < 2600 / 3 for r in fl.rounds for n in r.bytes_up.values())
    for ctx in grid.contexts.values():
        (residual,) = [ctx.state.array_records["edgekit.codec-residual"]]
        assert any(np.abs(a).sum() > 0 for a in residual.to_numpy_ndarrays())


def test_a_plain_flower_clientapp_with_edgekit_mods(digits):
    """A ClientApp written the Flower way (numpy ArrayRecords in and out), given
    numpy_arrays_mod and update_codec_mod: its top-k updates give simulate()'s model."""
    task, clients, init = digits
    app = ClientApp(mods=[numpy_arrays_mod, update_codec_mod(TopKCodec(0.1))])

    @app.train()
    def train(msg, context):
        arrays = msg.content["arrays"].to_numpy_ndarrays()
        res = clients[context.node_config["client-id"]].fit(arrays, dict(msg.content["config"]))
        return Message(RecordDict({"arrays": ArrayRecord(res.parameters), "metrics":
                                   MetricRecord({"num-examples": res.num_examples})}),
                       reply_to=msg)

    @app.query()
    def query(msg, context):
        return Message(RecordDict({"config": ConfigRecord(
            {"client-id": context.node_config["client-id"]})}), reply_to=msg)

    grid = LoopbackGrid(app, list(clients))
    fl = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=1.0, seed=5,
                        codec=TopKCodec(0.1)).run(grid, rounds=4)
    sim = simulate(_tasks.make_strategy("fedavg", init), clients, rounds=4, fraction=1.0,
                   seed=5, codec=TopKCodec(0.1), progress=False)
    assert [r.bytes_up for r in fl.rounds] == [r.bytes_up for r in sim.rounds]
    for a, b in zip(fl.parameters, sim.parameters, strict=True):
        assert np.array_equal(a, b)


def test_int8_uplink_cuts_bytes_and_keeps_accuracy(digits):
    sim, fl, _ = _run_both(digits, rounds=12, codec_factory=lambda: QuantizedCodec(8),
                           fraction=1.0)
    raw, _, _ = _run_both(digits, rounds=12, fraction=1.0)
    up = [n for r in fl.rounds for n in r.bytes_up.values()]
    raw_up = [n for r in raw.rounds for n in r.bytes_up.values()]
    assert np.mean(raw_up) / np.mean(up) >= 3.5
    # stochastic rounding draws differ between the two runtimes: compare with a tolerance
    assert abs(fl.final("accuracy") - sim.final("accuracy")) <= 0.02
    assert abs(fl.final("accuracy") - raw.final("accuracy")) <= 0.02


def test_bad_replies_are_refused_and_the_round_goes_on(digits):
    task, clients, init = digits

    sent_config = {}

    def tamper(msg, reply):
        cid = _cid(grid, msg)
        if msg.metadata.message_type != "train":
            return [reply]
        sent_config[cid] = dict(msg.content["config"].items())
        if cid == "c1":  # NaN parameters
            bad = [np.full((64, 10), np.nan, np.float32), np.zeros(10, np.float32)]
            return [Message(RecordDict({"arrays": to_arrayrecord(bad), "metrics":
                                        MetricRecord({"num-examples": 50})}), reply_to=msg)]
        if cid == "c2":  # wrong shape
            bad = [np.zeros((10, 64), np.float32), np.zeros(10, np.float32)]
            return [Message(RecordDict({"arrays": to_arrayrecord(bad), "metrics":
                                        MetricRecord({"num-examples": 50})}), reply_to=msg)]
        if cid == "c3":  # a second answer
            return [reply, reply]
        return [reply]

    def client_fn(context):
        if context.node_config["client-id"] == "c0":
            raise RuntimeError("disk full")
        return clients[context.node_config["client-id"]]

    grid = LoopbackGrid(client_app(client_fn), list(clients), tamper)
    adapter = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=1.0, seed=0)
    hist = adapter.run(grid, rounds=1, evaluate_fn=_tasks.evaluator(task))
    rec = hist.rounds[0]
    assert rec.selected and sorted(rec.selected) == ["c0", "c1", "c2", "c3"]
    assert rec.accepted == ["c3"] and rec.aborted is None
    assert "disk full" in rec.failures["c0"]
    assert "NaN" in rec.failures["c1"] and "shape" in rec.failures["c2"]
    assert "twice" in rec.failures["c3"]
    # the model is c3's alone (FedAvg of one client), trained on what it was sent
    expected = clients["c3"].fit(init, sent_config["c3"]).parameters
    for a, b in zip(hist.parameters, expected, strict=True):
        assert np.allclose(a, b, rtol=0, atol=1e-7)
    assert not np.allclose(hist.parameters[0], init[0])


def _reply(msg, **records):
    return Message(RecordDict(records), reply_to=msg)


_GOOD_ARRAYS = [np.zeros((64, 10), np.float32), np.zeros(10, np.float32)]
_BAD_REPLIES = {
    "random bytes": lambda m: _reply(m, arrays=ArrayRecord({"ekfa": Array(
        dtype="uint8", shape=(64,), stype=STYPE_PARAMS,
        data=np.random.default_rng(0).bytes(64))}), metrics=MetricRecord({"num-examples": 5})),
    "truncated": lambda m: _reply(m, arrays=ArrayRecord({"ekfa": Array(
        dtype="uint8", shape=(100,), stype=STYPE_PARAMS,
        data=pack_arrays(_GOOD_ARRAYS)[:100])}), metrics=MetricRecord({"num-examples": 5})),
    "NaN count": lambda m: _reply(m, arrays=to_arrayrecord(_GOOD_ARRAYS),
                                  metrics=MetricRecord({"num-examples": float("nan")})),
    "infinite count": lambda m: _reply(m, arrays=to_arrayrecord(_GOOD_ARRAYS),
                                       metrics=MetricRecord({"num-examples": float("inf")})),
    "negative count": lambda m: _reply(m, arrays=to_arrayrecord(_GOOD_ARRAYS),
                                       metrics=MetricRecord({"num-examples": -3})),
    "no count": lambda m: _reply(m, arrays=to_arrayrecord(_GOOD_ARRAYS),
                                 metrics=MetricRecord({"loss": 1.0})),
    "no metrics": lambda m: _reply(m, arrays=to_arrayrecord(_GOOD_ARRAYS)),
    "two array records": lambda m: _reply(m, a=to_arrayrecord(_GOOD_ARRAYS),
                                          b=to_arrayrecord(_GOOD_ARRAYS),
                                          metrics=MetricRecord({"num-examples": 5})),
    "float64 arrays": lambda m: _reply(m, arrays=ArrayRecord(
        [a.astype(np.float64) for a in _GOOD_ARRAYS]), metrics=MetricRecord({"num-examples": 5})),
    "not numpy": lambda m: _reply(m, arrays=ArrayRecord({"x": Array(
        dtype="float32", shape=(3,), stype="torch.raw", data=bytes(12))}),
        metrics=MetricRecord({"num-examples": 5})),
    "one array": lambda m: _reply(m, arrays=to_arrayrecord(_GOOD_ARRAYS[:1]),
                                  metrics=MetricRecord({"num-examples": 5})),
    "an update, no codec": lambda m: _reply(m, arrays=ArrayRecord({"u": Array(
        dtype="uint8", shape=(4,), stype=STYPE_UPDATE, data=bytes(4))}),
        metrics=MetricRecord({"num-examples": 5})),
}


@pytest.mark.parametrize("bad", list(_BAD_REPLIES))
def test_malformed_replies_are_refused(digits, bad):
    """Whatever one client sends back, the server refuses it with a reason and aggregates the
    other three."""
    task, clients, init = digits

    def tamper(msg, reply):
        if msg.metadata.message_type == "train" and _cid(grid, msg) == "c1":
            return [_BAD_REPLIES[bad](msg)]
        return [reply]

    grid = LoopbackGrid(client_app(_by_id(clients)), list(clients), tamper)
    adapter = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=1.0, seed=0)
    rec = adapter.run(grid, rounds=1).rounds[0]
    assert sorted(rec.accepted) == ["c0", "c2", "c3"] and list(rec.failures) == ["c1"]
    assert rec.failures["c1"]


def test_codec_update_refused_by_a_server_without_codec(digits):
    _, clients, init = digits
    grid = LoopbackGrid(client_app(_by_id(clients), codec=QuantizedCodec(8)), list(clients))
    adapter = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=1.0, seed=0)
    hist = adapter.run(grid, rounds=1)
    rec = hist.rounds[0]
    assert rec.accepted == [] and rec.aborted == "no client answered"
    assert all("no codec" in why for why in rec.failures.values())
    for a, b in zip(hist.parameters, init, strict=True):
        assert np.array_equal(a, b)


def test_node_without_enough_clients_aborts(digits):
    from edgekit.errors import RoundAbortedError

    _, clients, init = digits
    grid = LoopbackGrid(client_app(_by_id(clients)), ["c0"])
    adapter = FlowerStrategy(_tasks.make_strategy("fedavg", init, min_fit_clients=2),
                             node_wait_s=0.6)
    with pytest.raises(RoundAbortedError) as err:
        adapter.run(grid, rounds=1)
    assert err.value.needed == 2 and err.value.got == 1


def test_bad_arguments():
    from edgekit.federated.models import softmax_parameters

    fedavg = _tasks.make_strategy("fedavg", softmax_parameters(4, 2))
    with pytest.raises(InputTypeError):
        FlowerStrategy(object())
    with pytest.raises(InputError):
        FlowerStrategy(fedavg, fraction=0.0)
    with pytest.raises(InputTypeError):
        FlowerStrategy(fedavg, fraction_evaluate="all")
    # the same secure-aggregation checks as simulate() (_validate.check_secure_options)
    with pytest.raises(InputTypeError):
        FlowerStrategy(fedavg, secure_aggregation={})
    with pytest.raises(InputError, match="no codec"):
        FlowerStrategy(fedavg, secure_aggregation=SecAggConfig(), codec=Float32Codec())


# --- a real local deployment ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def _descendants(pid: int) -> set[int]:
    """The ids of ``pid``'s living descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class _Deployment:
    """A SuperLink and three SuperNodes (``client-id`` c0, c1, c2) as processes on
    127.0.0.1 over TLS (a CA and the SuperLink's certificate for 127.0.0.1 made with
    edgekit.secure.pki), offline: runtime dependency installation, telemetry and update
    checks off; the apps import this checkout's edgekit (PYTHONPATH).  Every process is
    started in its own session and its group is killed at the end."""

    def __init__(self, tmp: Path) -> None:
        from edgekit.secure.keys import generate_key, private_key_pem
        from edgekit.secure.pki import CertificateAuthority, certificate_pem

        self.tmp = tmp
        self.bindir = Path(sys.executable).parent
        ca = CertificateAuthority.create_root("edgekit flower test CA")
        key = generate_key()
        cert = ca.issue_server(key.public_key(), ip_addresses=["127.0.0.1"])
        self.ca = tmp / "ca.pem"
        self.ca.write_bytes(certificate_pem(ca.certificate))
        (tmp / "superlink.pem").write_bytes(certificate_pem([cert]))
        (tmp / "superlink.key").write_bytes(private_key_pem(key))
        home = tmp / "flwr-home"
        home.mkdir()
        self.link = _free_port()
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "local"\n\n[superlink.local]\n'
            f'address = "127.0.0.1:{self.link}"\nroot-certificates = "{self.ca}"\n')
        self.env = {
            **os.environ, "FLWR_HOME": str(home), "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1", "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "PATH": f"{self.bindir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []
        self.app = tmp / "app"
        shutil.copytree(APP, self.app, ignore=shutil.ignore_patterns("__pycache__"))
        self.runs = 0

    def _start(self, name: str, *args: str) -> None:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        self.procs.append(subprocess.Popen(
            [str(self.bindir / args[0]), *args[1:]], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, cwd=self.tmp, start_new_session=True))

    def start(self) -> None:
        self._start("superlink", "flower-superlink", "--ssl-certfile", "superlink.pem",
                    "--ssl-keyfile", "superlink.key", "--ssl-ca-certfile", "ca.pem",
                    "--host", "127.0.0.1", "--port", str(self.link),
                    "--disable-runtime-dependency-installation")
        _wait_port(self.link, time.monotonic() + 30)
        for k in range(3):
            self._start(f"supernode{k}", "flower-supernode", "--root-certificates", "ca.pem",
                        "--superlink", f"127.0.0.1:{self.link}", "--port", str(_free_port()),
                        "--node-config", f'client-id="c{k}"', "--max-wait-time", "60")

    def stop(self) -> None:
        """SIGTERM to every process started here and to their descendants (Flower's
        SuperExec detaches into a session of its own), SIGKILL to what is left after 10 s."""
        pids = {p.pid for p in self.procs if p.poll() is None}
        pids |= {d for p in self.procs for d in _descendants(p.pid)}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.2)
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for p in self.procs:
            p.wait(timeout=10)
        for log in self.logs:
            log.close()

    def run(self, **config) -> dict:
        """``flwr run`` of the test app with these run-config overrides; the History the
        ServerApp wrote."""
        self.runs += 1
        out = self.tmp / f"history{self.runs}.json"
        overrides = " ".join(f"{k}={json.dumps(v)}" for k, v in {**config, "out": str(out)}
                             .items())
        run = subprocess.run([str(self.bindir / "flwr"), "run", str(self.app), "local",
                              "--stream", "--run-config", overrides], env=self.env,
                             cwd=self.tmp, capture_output=True, text=True, timeout=150)
        deadline = time.monotonic() + 20
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        if not out.exists():
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                              for p in sorted(self.tmp.glob("*.log")))
            pytest.fail(f"the run wrote no history; flwr run said:\n{run.stdout[-4000:]}\n"
                        f"{run.stderr[-2000:]}\n{tails}")
        return json.loads(out.read_text())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    if not (Path(sys.executable).parent / "flower-superlink").exists():
        pytest.skip(f"flower-superlink is not in {Path(sys.executable).parent}")
    dep = _Deployment(tmp_path_factory.mktemp("flower"))
    try:
        dep.start()
        yield dep
    finally:
        dep.stop()


def _check_against_simulate(doc: dict, sim) -> None:
    assert len(doc["rounds"]) == len(sim.rounds)
    for f, s in zip(doc["rounds"], sim.rounds, strict=True):
        assert f["selected"] == s.selected and f["accepted"] == s.accepted, f["failures"]
        assert f["bytes_up"] == s.bytes_up and f["bytes_down"] == s.bytes_down
        assert f["metrics"]["accuracy"] == pytest.approx(s.metrics["accuracy"], abs=1e-9)
    for a, dt, b in zip(doc["parameters"], doc["dtypes"], sim.parameters, strict=True):
        assert dt == "float32"
        assert np.max(np.abs(np.asarray(a, np.float32) - b)) <= 1e-6


def _simulate_digits(rounds: int, **kw):
    task = _tasks.load_task("digits")
    clients, init = _tasks.fleet(task, n_clients=3, alpha=0.5, seed=0)
    return simulate(_tasks.make_strategy("fedavg", init, n_clients=3, min_fit_clients=2),
                    clients, rounds=rounds, seed=0, evaluate_fn=_tasks.evaluator(task),
                    progress=False, **kw)


@pytest.mark.slow
def test_flower_deployment_reaches_simulate_accuracy(deployment):
    """``flwr run`` of the test app: FedAvg on digits, 3 clients (Dirichlet 0.5), all of
    them each round, 3 rounds.  The held-out accuracy of every round equals simulate()'s for
    the same setup and seed (tolerance 1e-9; every parameter within 1e-6); bytes up and down
    are those of edgekit's wire format, as simulate() counts them."""
    doc = deployment.run(**{"num-server-rounds": 3, "fraction": 1.0, "min-clients": 2,
                            "n-clients": 3, "alpha": 0.5, "seed": 0})
    _check_against_simulate(doc, _simulate_digits(3, fraction=1.0, min_clients=2))
    assert doc["rounds"][-1]["metrics"]["accuracy"] > 0.75


@pytest.mark.slow
def test_flower_deployment_secure_aggregation(deployment):
    """The same app with secure aggregation, 2 of 3 clients, one round (the train message
    and three protocol exchanges between real processes): the model equals simulate()'s
    secure run."""
    doc = deployment.run(**{"num-server-rounds": 1, "fraction": 0.6, "min-clients": 2,
                            "n-clients": 3, "alpha": 0.5, "seed": 0, "secagg": True})
    _check_against_simulate(doc, _simulate_digits(1, fraction=0.6, min_clients=2,
                                                  secure_aggregation=SecAggConfig()))

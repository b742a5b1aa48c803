"""The networked federated runtime over mutual TLS on 127.0.0.1.

The main test runs the coordinator and six clients as separate processes, SIGKILLs one client
inside a round, and checks the result against :func:`simulate` with the same seed, strategy
and clients.  The others run the coordinator in a thread of this process (the TLS is still
real) to check refusals: certificates of another CA or none, wrong shapes, NaN, a second
answer, undecodable bytes."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("aiohttp")
pytest.importorskip("sklearn")

from edgekit.errors import CertificateError, InputError, RoundAbortedError  # noqa: E402
from edgekit.federated import FedAvg, simulate  # noqa: E402
from edgekit.federated import _net_demo as _net_child  # noqa: E402
from edgekit.federated import _net_proto as proto  # noqa: E402
from edgekit.federated._net_demo import make_pki as make_fleet  # noqa: E402
from edgekit.federated._wire import pack_arrays  # noqa: E402
from edgekit.federated.network import Coordinator, run_client  # noqa: E402
from edgekit.secure import TrustStore, client_context, server_context  # noqa: E402
from edgekit.types import EvaluateResult, FitResult  # noqa: E402
from tests._env import child_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 50.0  # seconds for the whole multi-process run


def test_processes_over_mutual_tls_match_simulate_with_a_client_killed_mid_round(tmp_path):
    rounds, kill_round, victim = 10, 3, "c2"
    ids = list(_net_child.CLIENT_IDS)
    d = make_fleet(tmp_path / "pki", ids)
    _net_child.save_fleet(d / "fleet.npz")
    out = _net_child.run_fleet(d, rounds=rounds, seed=7, kill_round=kill_round,
                               victim=victim, timeout_s=TIMEOUT,
                               env=child_env(PYTHONPATH=str(ROOT)))
    history, params, reports = out["history"], out["params"], out["reports"]
    net = history["rounds"]

    # the same run in one process: the killed client fails from the kill round on
    task, sim_clients, init = _net_child.fleet(d / "fleet.npz")
    sim_clients[victim] = _net_child.DiesAt(sim_clients[victim], kill_round)
    sim = simulate(_net_child.strategy(init), sim_clients, rounds=rounds, fraction=1.0,
                   min_clients=2, seed=7, evaluate_fn=_tasks_evaluator(task))

    assert sorted(history["clients"]) == ids and len(net) == rounds  # no round retried
    for r in range(kill_round):  # up to and including the kill round, the same bits
        assert net[r]["selected"] == sim.rounds[r].selected
        assert net[r]["accepted"] == sim.rounds[r].accepted
        assert net[r]["metrics"]["accuracy"] == sim.rounds[r].metrics["accuracy"]
        assert net[r]["metrics"]["loss"] == sim.rounds[r].metrics["loss"]
    k = kill_round - 1
    assert net[k]["missing"] == [victim] and "lost" in net[k]["failures"][victim]
    assert victim not in net[k]["accepted"] and len(net[k]["accepted"]) == len(ids) - 1
    for r in net[kill_round:]:  # the dead client is no longer sampled
        assert victim not in r["selected"] and len(r["accepted"]) == len(ids) - 1
    # afterwards the coordinator samples the 4 live clients where simulate samples all 5 (one
    # fails): the clients get other shuffling seeds and the sum runs in another order, so the
    # two agree only within a tolerance: 0.05.  Over 12 seeds (which change only those two
    # things here) simulate's final accuracy spans 0.876-0.915 (std 0.010): the difference
    # of two such runs has std 0.015, and 0.05 is 3.4 of them
    acc_net, acc_sim = net[-1]["metrics"]["accuracy"], sim.rounds[-1].metrics["accuracy"]
    assert abs(acc_net - acc_sim) <= 0.05, (acc_net, acc_sim)
    assert acc_net >= 0.80  # chance is 0.1; ~0.89 without c2's data from round 3 on
    probe = _tasks_evaluator(task)(rounds, params)
    assert probe["accuracy"] == acc_net  # the saved parameters are the evaluated ones
    # bytes are the bodies really sent: per task the model (2,600 B raw) plus the header
    down = [b for r in net for b in r["bytes_down"].values()]
    assert all(2600 < b < 2900 for b in down)
    assert sorted(reports) == [c for c in ids if c != victim]
    assert all(rep["rounds"] == list(range(1, rounds + 1)) for rep in reports.values())
    for cid, rep in reports.items():  # what each client sent is what the coordinator counted
        assert rep["bytes_up"] == sum(r["bytes_up"].get(cid, 0) for r in net)


def _tasks_evaluator(task):
    from edgekit.federated import _tasks

    return _tasks.evaluator(task)


# --- refusals, with the coordinator in a thread -------------------------------------------------


class _Const:
    """Answers ``parameters + step`` (or whatever ``make`` returns)."""

    def __init__(self, step: float = 1.0, make=None, n: int = 10) -> None:
        self.step, self.make, self.n = step, make, n

    def fit(self, parameters, config):
        if self.make is not None:
            return self.make(parameters)
        return FitResult([a + np.float32(self.step) for a in parameters], self.n)

    def evaluate(self, parameters, config):
        return EvaluateResult(0.0, 1)


class _Served:
    """A coordinator running in a thread; ``history`` or ``error`` once it stops."""

    def __init__(self, pki: Path, **kw) -> None:
        trust = TrustStore.of(pki / "root.pem")
        kw = {"rounds": 2, "poll_wait_s": 1.0, "round_timeout_s": 8.0, "linger_s": 2.0,
              "registration_timeout_s": 20.0, "liveness_s": 3.0, "heartbeat_s": 0.5, **kw}
        strategy = kw.pop("strategy", None) or FedAvg([np.zeros((2, 3), np.float32)],
                                                      min_fit_clients=kw.get("min_clients", 2))
        self.coord = Coordinator(
            strategy, ssl_context=server_context(pki / "server.pem", pki / "server.key", trust),
            trust=trust, **kw)
        self.history = self.error = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10)
        self.url = self.coord.url

    def _run(self, ready) -> None:
        try:
            self.history = self.coord.run(lambda url: ready.set())
        except BaseException as err:  # recorded for the test
            self.error = err
            ready.set()

    def join(self):
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self


def _client(pki: Path, cid: str, client, url: str, results: dict, **kw) -> threading.Thread:
    def go():
        try:
            ctx = client_context(pki / f"{cid}.pem" if cid else None,
                                 pki / f"{cid}.key" if cid else None, pki / "root.pem")
            results[cid] = run_client(client, url, ssl_context=ctx,
                                      **{"poll_wait_s": 1.0, "give_up_after_s": 10.0, **kw})
        except Exception as err:  # recorded for the test
            results[cid] = err
    t = threading.Thread(target=go, daemon=True, name=f"fl-client-{cid}")
    t.start()
    return t


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_fleet(tmp_path_factory.mktemp("pki"), ["a", "b", "c", "d"], rogue=("evil",))


def test_a_certificate_of_another_ca_or_none_is_refused(pki):
    srv = _Served(pki, start_clients=2)
    results: dict = {}
    threads = [_client(pki, cid, _Const(), srv.url, results) for cid in ("evil", "")]
    for t in threads:
        t.join(20)
    assert isinstance(results["evil"], CertificateError), results["evil"]
    assert isinstance(results[""], CertificateError), results[""]
    assert srv.coord._peers == {}  # neither ever reached a handler
    threads = [_client(pki, cid, _Const(), srv.url, results) for cid in ("a", "b")]
    for t in threads:
        t.join(20)
    h = srv.join().history
    assert h.clients == ["a", "b"] and results["a"].client_id == "a"
    assert h.parameters[0].tolist() == [[2.0] * 3] * 2  # two rounds of +1


def test_bad_answers_are_refused_and_the_round_goes_on(pki):
    srv = _Served(pki, start_clients=4, rounds=1, min_clients=1)
    results: dict = {}
    nan = _Const(make=lambda p: FitResult([np.full_like(p[0], np.nan)], 5))
    shape = _Const(make=lambda p: FitResult([np.zeros((3, 2), np.float32)], 5))
    dtype = _Const(make=lambda p: FitResult([p[0].astype(np.float64)], 5))
    threads = [_client(pki, cid, c, srv.url, results)
               for cid, c in (("a", _Const(1.0)), ("b", nan), ("c", shape), ("d", dtype))]
    for t in threads:
        t.join(30)
    rec = srv.join().history.rounds[0]
    assert rec.accepted == ["a"] and rec.aborted is None
    assert set(rec.failures) == {"b", "c", "d"}
    assert "NaN" in rec.failures["b"] and "shape" in rec.failures["c"]
    assert "dtype" in rec.failures["d"]
    assert results["b"].refused[1].startswith("round 1")
    assert srv.history.parameters[0].tolist() == [[1.0] * 3] * 2  # a's answer alone


def test_too_few_answers_retries_then_aborts(pki):
    srv = _Served(pki, start_clients=2, rounds=1, min_clients=2, retries=1,
                  round_timeout_s=1.0)
    results: dict = {}
    nan = _Const(make=lambda p: FitResult([np.full_like(p[0], np.nan)], 5))
    threads = [_client(pki, cid, c, srv.url, results, give_up_after_s=4.0)
               for cid, c in (("a", _Const(1.0)), ("b", nan))]
    srv.join()
    for t in threads:
        t.join(20)
    assert isinstance(srv.error, RoundAbortedError) and srv.error.needed == 2
    assert results["a"].rounds == (1, 1)  # the first attempt and its retry; then told to stop


def _post(url: str, ctx, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    import aiohttp

    async def go():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
            method = "POST" if body is not None else "GET"
            async with http.request(method, url + path, data=body,
                                    timeout=aiohttp.ClientTimeout(total=10)) as r:
                return r.status, await r.read()
    return asyncio.run(go())


def test_a_second_answer_and_undecodable_bytes_are_refused(pki):
    """A raw HTTP client: the first answer stands, the second is refused; another client's
    undecodable answer is refused and the round closes without waiting for its timeout."""
    srv = _Served(pki, start_clients=2, rounds=1, min_clients=1, round_timeout_s=20.0)
    ctx = {c: client_context(pki / f"{c}.pem", pki / f"{c}.key", pki / "root.pem")
           for c in ("a", "b")}
    tasks = {}
    for c in ("a", "b"):
        _post(srv.url, ctx[c], f"{proto.API}/register", b"")
    for c in ("a", "b"):
        status, body = _post(srv.url, ctx[c], f"{proto.API}/task?wait=5")
        assert status == 200
        tasks[c] = proto.unpack_message(body)[0]
    answer = proto.pack_message({"task": tasks["a"]["task"], "num_examples": 3},
                                pack_arrays([np.ones((2, 3), np.float32)]))
    assert _post(srv.url, ctx["a"], f"{proto.API}/result", answer)[0] == 200
    status, body = _post(srv.url, ctx["a"], f"{proto.API}/result", answer)
    assert status == 409 and b"twice" in body
    t0 = time.monotonic()
    assert _post(srv.url, ctx["b"], f"{proto.API}/result", b"EKFN garbage")[0] == 400
    h = srv.join().history
    assert time.monotonic() - t0 < 10  # every selected client answered: no timeout wait
    rec = h.rounds[0]
    assert rec.accepted == ["a"] and "undecodable" in rec.failures["b"]
    assert any("twice" in why for c, why in rec.rejected if c == "a")
    assert h.parameters[0].tolist() == [[1.0] * 3] * 2


def test_coordinator_refuses_a_context_without_client_certificates(pki):
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(InputError, match="CERT_REQUIRED"):
        Coordinator(FedAvg([np.zeros(2, np.float32)]), ssl_context=ctx,
                    trust=TrustStore.of(pki / "root.pem"), rounds=1)


def test_client_gives_up_when_nobody_listens(pki):
    import socket

    from edgekit.errors import FetchError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = client_context(pki / "a.pem", pki / "a.key", pki / "root.pem")
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="not reachable"):
        run_client(_Const(), f"https://127.0.0.1:{port}", ssl_context=ctx,
                   give_up_after_s=1.0, backoff_s=0.05, backoff_max_s=0.2)
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("data", [b"", b"EKFN", b"XXXX\x01\x00\x00\x00\x00",
                                  b"EKFN\x01\x05\x00\x00\x00[1,2]",
                                  b"EKFN\x01\xff\xff\x00\x00{}"])
def test_messages_refuse_garbage(data):
    from edgekit.errors import CorruptDataError

    with pytest.raises(CorruptDataError):
        proto.unpack_message(data)


def test_message_round_trip():
    body = proto.pack_message({"task": 3, "config": {"lr": 0.1}}, b"payload")
    header, payload = proto.unpack_message(body)
    assert header == {"task": 3, "config": {"lr": 0.1}} and payload == b"payload"
    with pytest.raises(ValueError):  # NaN cannot be sent (JSON has none)
        proto.pack_message({"metrics": {"loss": float("nan")}})


def test_a_codec_carries_updates_as_simulate_does(pki, tmp_path):
    """Top-k with error feedback is deterministic and keeps its residual per client: each
    client process holds its own, simulate holds them all, and the runs are the same bits."""
    from edgekit.federated.compression import TopKCodec

    _net_child.save_fleet(tmp_path / "fleet.npz")
    task, fleet, init = _net_child.fleet(tmp_path / "fleet.npz")
    ids = sorted(fleet)
    net_pki = make_fleet(tmp_path / "pki", ids)
    srv = _Served(net_pki, strategy=_net_child.strategy(init), rounds=3, fraction=1.0,
                  min_clients=2, start_clients=len(ids), seed=3, codec=TopKCodec(0.1),
                  evaluate_fn=_tasks_evaluator(task))
    results: dict = {}
    threads = [_client(net_pki, cid, fleet[cid], srv.url, results, codec=TopKCodec(0.1))
               for cid in ids]
    for t in threads:
        t.join(30)
    net = srv.join().history
    assert all(results[c].rounds == (1, 2, 3) for c in ids), results
    _task, fleet, init = _net_child.fleet(tmp_path / "fleet.npz")
    sim = simulate(_net_child.strategy(init), fleet, rounds=3, fraction=1.0, min_clients=2,
                   seed=3, codec=TopKCodec(0.1), evaluate_fn=_tasks_evaluator(task))
    for a, b in zip(net.parameters, sim.parameters, strict=True):
        assert a.tobytes() == b.tobytes()
    # what went up is the codec's bytes plus this runtime's message header (< 200 B)
    extra = net.bytes_up() - sim.bytes_up()
    assert np.all(extra > 0) and np.all(extra < 200 * len(ids)), extra
    assert np.all(net.bytes_up() < 0.5 * net.bytes_down())  # top-10% vs the raw model


def test_a_client_without_the_coordinators_codec_stops_with_a_clear_error(pki):
    from edgekit.federated.compression import TopKCodec

    srv = _Served(pki, start_clients=2, rounds=1, codec=TopKCodec(0.1),
                  round_timeout_s=2.0, retries=0)
    results: dict = {}
    threads = [_client(pki, cid, _Const(), srv.url, results) for cid in ("a", "b")]
    for t in threads:
        t.join(20)
    assert isinstance(results["a"], InputError) and "top0.1" in str(results["a"])
    assert isinstance(srv.join().error, RoundAbortedError)


def test_secure_aggregation_over_the_network_with_a_client_gone_before_its_masked_input(
        pki, tmp_path, monkeypatch):
    """The secagg protocol's messages carried as tasks and answers.  In round 2, c1 vanishes
    after sharing its keys, before sending its masked input: the others' shares remove its
    masks and the sum is over the four others, which is what simulate computes when c1 fails
    in round 2 (a secure sum is exactly the plain fixed-point sum of its senders)."""
    from edgekit.federated import secagg

    _net_child.save_fleet(tmp_path / "fleet.npz")
    task, fleet, init = _net_child.fleet(tmp_path / "fleet.npz")
    ids = sorted(fleet)
    net_pki = make_fleet(tmp_path / "pki", ids)
    config = secagg.SecAggConfig(threshold=3)
    calls: dict[str, int] = {}
    real = secagg.SecAggClient.handle

    def handle(self, data):
        name = threading.current_thread().name
        calls[name] = calls.get(name, 0) + 1
        if name == "fl-client-c1" and calls[name] == 7:  # round 2: the forwarded shares
            raise ConnectionAbortedError("c1 is gone")
        return real(self, data)

    monkeypatch.setattr(secagg.SecAggClient, "handle", handle)
    srv = _Served(net_pki, strategy=_net_child.strategy(init), rounds=2, fraction=1.0,
                  min_clients=2, start_clients=len(ids), seed=5, secure_aggregation=config,
                  evaluate_fn=_tasks_evaluator(task))
    results: dict = {}
    threads = [_client(net_pki, cid, fleet[cid], srv.url, results, secure_aggregation=config)
               for cid in ids]
    for t in threads:
        t.join(40)
    net = srv.join().history
    assert isinstance(results["c1"], ConnectionAbortedError)
    assert all(results[c].rounds == (1, 2) for c in ids if c != "c1")
    r2 = net.rounds[1]
    assert sorted(r2.accepted) == ["c0", "c2", "c3", "c4"] and r2.missing == ["c1"]
    assert r2.aborted is None and "lost" in r2.failures["c1"]
    _task, fleet, init = _net_child.fleet(tmp_path / "fleet.npz")
    fleet["c1"] = _net_child.DiesAt(fleet["c1"], 2)
    sim = simulate(_net_child.strategy(init), fleet, rounds=2, fraction=1.0, min_clients=2,
                   seed=5, secure_aggregation=config, evaluate_fn=_tasks_evaluator(task))
    assert sim.rounds[1].accepted == r2.accepted
    for a, b in zip(net.parameters, sim.parameters, strict=True):
        assert a.tobytes() == b.tobytes()
    # every protocol message is counted: the secure round costs more than the model alone
    assert all(net.rounds[0].bytes_up[c] > 2600 for c in ids)


class _FailsOnce:
    """Raises in round 1's fit (a device out of memory, say), trains normally after."""

    def fit(self, parameters, config):
        if config["server_round"] == 1:
            raise MemoryError("no room for the batch")
        return FitResult([a + np.float32(1) for a in parameters], 10)

    def evaluate(self, parameters, config):
        return EvaluateResult(0.0, 1)


def test_a_client_whose_fit_fails_says_so_and_stays_in_the_fleet(pki):
    srv = _Served(pki, start_clients=2, rounds=2, min_clients=1, round_timeout_s=20.0)
    results: dict = {}
    t0 = time.monotonic()
    threads = [_client(pki, "a", _Const(1.0), srv.url, results),
               _client(pki, "b", _FailsOnce(), srv.url, results)]
    for t in threads:
        t.join(30)
    h = srv.join().history
    assert time.monotonic() - t0 < 10  # the failure was reported, not waited for
    assert "MemoryError" in h.rounds[0].failures["b"] and h.rounds[0].accepted == ["a"]
    assert sorted(h.rounds[1].accepted) == ["a", "b"]
    assert results["b"].failed == {1: "MemoryError: no room for the batch"}
    assert results["b"].rounds == (2,)


def test_an_answer_over_the_size_limit_is_refused_without_a_retry_loop(pki):
    big = _Const(make=lambda p: FitResult([np.zeros((2, 3), np.float32)] * 2000, 5))
    srv = _Served(pki, start_clients=2, rounds=1, min_clients=1, round_timeout_s=20.0,
                  max_message_bytes=16_384)
    results: dict = {}
    t0 = time.monotonic()
    threads = [_client(pki, "a", _Const(1.0), srv.url, results),
               _client(pki, "b", big, srv.url, results)]
    for t in threads:
        t.join(30)
    rec = srv.join().history.rounds[0]
    assert time.monotonic() - t0 < 10
    assert rec.accepted == ["a"] and "at most 16384" in rec.failures["b"]
    assert results["b"].refused[1].startswith("an answer of")


def test_a_client_started_before_the_coordinator_reconnects_with_backoff(pki):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results: dict = {}
    threads = [_client(pki, c, _Const(1.0), f"https://127.0.0.1:{port}", results,
                       give_up_after_s=20.0, backoff_s=0.1, backoff_max_s=0.5)
               for c in ("a", "b")]
    time.sleep(1.0)  # nobody listens yet: connections are refused, the clients back off
    srv = _Served(pki, start_clients=2, rounds=1, port=port)
    for t in threads:
        t.join(30)
    assert srv.join().history.rounds[0].accepted
    assert all(results[c].reconnects > 0 and results[c].rounds == (1,) for c in ("a", "b"))


@given(st.binary(max_size=64) | st.builds(
    lambda head, cut, flip: _damaged(head, cut, flip), st.dictionaries(
        st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    st.integers(0, 80), st.integers(0, 8 * 80)))
def test_message_decoding_refuses_or_returns_never_crashes(data):
    from edgekit.errors import CorruptDataError

    try:
        header, payload = proto.unpack_message(data)
    except CorruptDataError:
        return
    assert isinstance(header, dict) and isinstance(payload, bytes)


def _damaged(header: dict, cut: int, flip: int) -> bytes:
    data = bytearray(proto.pack_message(header, b"\x01\x02\x03"))
    if flip < 8 * len(data):
        data[flip // 8] ^= 1 << (flip % 8)
    return bytes(data[:cut]) if cut < len(data) else bytes(data)


def test_stop_ends_a_coordinator_that_waits_for_clients(pki):
    srv = _Served(pki, start_clients=3, registration_timeout_s=60.0)
    status, _ = _post(srv.url, client_context(pki / "a.pem", pki / "a.key", pki / "root.pem"),
                      f"{proto.API}/task?wait=nan")  # a bad wait is the default wait, not a hang
    assert status == 204
    t0 = time.monotonic()
    srv.coord.stop()
    srv.join()
    assert time.monotonic() - t0 < 10
    assert isinstance(srv.error, asyncio.CancelledError)
    with pytest.raises(InputError, match="one run"):
        srv.coord.run()


def test_a_device_cannot_answer_in_the_place_of_another(pki):
    """One of two devices is selected; the other, with its own valid certificate, posts an
    answer to that task: it is refused (the sender is who its certificate says), and the
    selected device's own answer is taken."""
    srv = _Served(pki, start_clients=2, rounds=1, min_clients=1, fraction=0.5, seed=1)
    ctx = {c: client_context(pki / f"{c}.pem", pki / f"{c}.key", pki / "root.pem")
           for c in ("a", "b")}
    for c in ("a", "b"):
        _post(srv.url, ctx[c], f"{proto.API}/register", b"")
    got = {c: _post(srv.url, ctx[c], f"{proto.API}/task?wait=3") for c in ("a", "b")}
    chosen = next(c for c, (status, _) in got.items() if status == 200)
    other = "b" if chosen == "a" else "a"
    assert got[other][0] == 204
    task_id = proto.unpack_message(got[chosen][1])[0]["task"]
    forged = proto.pack_message({"task": task_id, "num_examples": 3},
                                pack_arrays([np.full((2, 3), 9.0, np.float32)]))
    status, body = _post(srv.url, ctx[other], f"{proto.API}/result", forged)
    assert status == 403 and b"not selected" in body
    honest = proto.pack_message({"task": task_id, "num_examples": 3},
                                pack_arrays([np.ones((2, 3), np.float32)]))
    assert _post(srv.url, ctx[chosen], f"{proto.API}/result", honest)[0] == 200
    h = srv.join().history
    assert h.rounds[0].accepted == [chosen] and h.parameters[0].tolist() == [[1.0] * 3] * 2
    assert (other, "not selected for this round") in h.rounds[0].rejected


def test_clients_evaluate_the_model_on_their_own_data(pki, tmp_path):
    """fraction_evaluate=1: every client evaluates each round's model; the round's
    client_accuracy is the example-weighted mean of their accuracies, and the training
    (drawn from its own generator) is still simulate()'s, bit for bit."""
    _net_child.save_fleet(tmp_path / "fleet.npz")
    task, fleet, init = _net_child.fleet(tmp_path / "fleet.npz")
    ids = sorted(fleet)
    net_pki = make_fleet(tmp_path / "pki", ids)
    srv = _Served(net_pki, strategy=_net_child.strategy(init), rounds=2, fraction=1.0,
                  min_clients=2, start_clients=len(ids), seed=4, fraction_evaluate=1.0)
    results: dict = {}
    threads = [_client(net_pki, cid, fleet[cid], srv.url, results) for cid in ids]
    for t in threads:
        t.join(30)
    net = srv.join().history
    last = net.rounds[-1].metrics
    evals = [fleet[c].evaluate(net.parameters, {}) for c in ids]
    n = sum(e.num_examples for e in evals)
    assert last["client_accuracy"] == pytest.approx(
        sum(e.metrics["accuracy"] * e.num_examples for e in evals) / n, rel=1e-12)
    assert last["client_loss"] == pytest.approx(
        sum(e.loss * e.num_examples for e in evals) / n, rel=1e-12)
    _task, fleet, init = _net_child.fleet(tmp_path / "fleet.npz")
    sim = simulate(_net_child.strategy(init), fleet, rounds=2, fraction=1.0, min_clients=2,
                   seed=4)
    for a, b in zip(net.parameters, sim.parameters, strict=True):
        assert a.tobytes() == b.tobytes()

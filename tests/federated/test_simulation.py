"""simulate(): repeatable from the seed, real bytes, and bad clients left out of the round."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import (
    CorruptDataError,
    InputError,
    InputTypeError,
    InvalidUpdateError,
    RoundAbortedError,
)
from edgekit.federated import (
    FedAvg,
    FedMedian,
    FitResult,
    History,
    Scaffold,
    simulate,
    softmax_parameters,
)
from edgekit.federated._wire import pack_arrays, unpack_arrays

pytest.importorskip("sklearn")
from edgekit.federated._tasks import evaluator, fleet, load_task  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


class Recorder:
    """Wraps a client and keeps what it answered, to recompute a round by hand."""

    def __init__(self, client):
        self.client = client
        self.answers: list[FitResult] = []

    def fit(self, parameters, config):
        res = self.client.fit(parameters, config)
        self.answers.append(res)
        return res

    def evaluate(self, parameters, config):
        return self.client.evaluate(parameters, config)


class Bad:
    """A client that answers wrongly in one of the ways a fleet sees."""

    def __init__(self, kind: str, n: int = 50):
        self.kind, self.n = kind, n

    def fit(self, parameters, config):
        p = [np.array(a) for a in parameters]
        if self.kind == "shape":
            return FitResult([p[0].T, p[1]], self.n)
        if self.kind == "dtype":
            return FitResult([p[0].astype(np.float64), p[1]], self.n)
        if self.kind == "nan":
            p[0][3, 3] = np.nan
            return FitResult(p, self.n)
        if self.kind == "count":
            return FitResult(p[:1], self.n)
        if self.kind == "raises":
            raise RuntimeError("sensor bus fault")
        if self.kind == "not-a-result":
            return p
        raise AssertionError(self.kind)

    def evaluate(self, parameters, config):
        raise AssertionError("not called")


def test_same_seed_same_history_and_real_bytes(digits):
    ev = evaluator(digits)

    def run(seed):
        clients, init = fleet(digits, seed=0)
        return simulate(FedAvg(init), clients, rounds=4, fraction=0.5, seed=seed,
                        evaluate_fn=ev)

    a, b, c = run(1), run(1), run(2)
    assert isinstance(a, History) and len(a.rounds) == 4
    assert all(np.array_equal(x, y) for x, y in zip(a.parameters, b.parameters, strict=True))
    assert [r.selected for r in a.rounds] == [r.selected for r in b.rounds]
    assert a.metric("accuracy").tolist() == b.metric("accuracy").tolist()
    assert [r.selected for r in a.rounds] != [r.selected for r in c.rounds]
    raw = len(pack_arrays(softmax_parameters(64, 10)))
    assert raw == 2600 + 36  # 650 float32 and the header
    for r in a.rounds:
        assert len(r.selected) == 5 and r.accepted == r.selected and not r.failures
        assert set(r.bytes_down.values()) == {raw} and set(r.bytes_up.values()) == {raw}
        assert r.metrics["clients"] == 5 and r.wall_time_s > 0
    assert a.bytes_up().tolist() == [5 * raw] * 4 and a.bytes_down().tolist() == [5 * raw] * 4
    assert a.final("accuracy") > 0.3 and a.wall_time_s > 0


@pytest.mark.parametrize("kind", ["shape", "dtype", "nan", "count", "raises", "not-a-result"])
def test_bad_client_is_left_out_and_does_not_poison_the_round(digits, kind):
    clients, init = fleet(digits, seed=0, n_clients=4)
    good = {k: Recorder(c) for k, c in clients.items()}
    fleet_with_bad = {**good, "bad": Bad(kind)}
    h = simulate(FedAvg(init), fleet_with_bad, rounds=1, fraction=1.0, seed=3)
    rec = h.rounds[0]
    assert sorted(rec.accepted) == sorted(good) and list(rec.failures) == ["bad"]
    assert ("sensor bus fault" if kind == "raises" else "round 1, client 'bad'") \
        in rec.failures["bad"]
    # the model is exactly FedAvg over the good clients' answers
    expected, _ = FedAvg(init).aggregate_fit(
        1, init, [(k, c.answers[0]) for k, c in good.items()])
    assert all(np.array_equal(x, y) for x, y in zip(h.parameters, expected, strict=True))


def test_round_without_answers_keeps_the_model(digits):
    _, init = fleet(digits, seed=0)
    h = simulate(FedAvg(init), [Bad("nan"), Bad("raises")], rounds=2, fraction=1.0, seed=0)
    assert all(r.aborted == "no client answered" and not r.accepted for r in h.rounds)
    assert all(np.array_equal(x, y) for x, y in zip(h.parameters, init, strict=True))


def test_dropout_and_minimum(digits):
    clients, init = fleet(digits, seed=0)
    h = simulate(FedAvg(init), clients, rounds=6, fraction=0.3, min_clients=4, seed=0,
                 dropout=0.5)
    assert all(len(r.selected) == 4 for r in h.rounds)
    dropped = sum(v == "dropped" for r in h.rounds for v in r.failures.values())
    assert 3 <= dropped <= 21
    for r in h.rounds:
        assert len(r.accepted) + len(r.failures) == 4
        assert set(r.bytes_up) == set(r.accepted)  # a dropped client sent nothing
    with pytest.raises(RoundAbortedError):
        simulate(FedAvg(init), list(clients.values())[:2], rounds=1, fraction=1.0,
                 min_clients=3, seed=0)


def test_progress_callback_and_bad_arguments(digits):
    clients, init = fleet(digits, seed=0)
    seen = []
    simulate(FedAvg(init), clients, rounds=3, fraction=0.5, seed=0, progress=seen.append)
    assert [r.server_round for r in seen] == [1, 2, 3]
    for kwargs in ({"rounds": 0}, {"dropout": 1.0}, {"fraction": 0.0}):
        with pytest.raises(InputError):
            simulate(FedAvg(init), clients, **{"rounds": 1, "fraction": 0.5, "seed": 0,
                                                **kwargs})
    with pytest.raises(InputError):
        simulate(FedAvg(init), "abc", rounds=1, fraction=0.5, seed=0)
    secagg = pytest.importorskip("edgekit.federated.secagg")
    with pytest.raises(InputError, match="needs every update"):
        simulate(FedMedian(init), clients, rounds=1, fraction=0.5, seed=0,
                 secure_aggregation=secagg.SecAggConfig())
    with pytest.raises(InputError, match="no codec"):
        simulate(FedAvg(init), clients, rounds=1, fraction=0.5, seed=0, codec=HalfCodec(),
                 secure_aggregation=secagg.SecAggConfig())
    with pytest.raises(InputTypeError):
        simulate(FedAvg(init), clients, rounds=1, fraction=0.5, seed=0,
                 secure_aggregation={"threshold": 3})


class HalfCodec:
    """A test codec: float16 deltas through the wire format (codec 0, raw)."""

    name = "half"

    def encode(self, update, *, client, rng):
        return pack_arrays([np.asarray(u, np.float16) for u in update])

    def decode(self, data, *, like):
        arrays, _ = unpack_arrays(data)
        if len(arrays) != len(like):
            raise InvalidUpdateError("wrong count", client=None)
        return [a.astype(b.dtype) for a, b in zip(arrays, like, strict=True)]


class Garbage(HalfCodec):
    def encode(self, update, *, client, rng):
        data = super().encode(update, client=client, rng=rng)
        return data[:-1] + bytes([data[-1] ^ 1]) if client == "c0" else data


def test_codec_carries_deltas_and_counts_its_bytes(digits):
    clients, init = fleet(digits, seed=0)
    ev = evaluator(digits)
    plain = simulate(FedAvg(init), clients, rounds=10, fraction=0.5, seed=0, evaluate_fn=ev)
    clients, init = fleet(digits, seed=0)
    half = simulate(FedAvg(init), clients, rounds=10, fraction=0.5, seed=0, evaluate_fn=ev,
                    codec=HalfCodec())
    assert set(half.rounds[0].bytes_up.values()) == {1300 + 36}
    assert abs(half.final("accuracy") - plain.final("accuracy")) < 0.02
    assert not all(np.array_equal(x, y) for x, y in zip(half.parameters, plain.parameters,
                                                          strict=True))
    clients, init = fleet(digits, seed=0)
    h = simulate(FedAvg(init), clients, rounds=3, fraction=1.0, seed=0, codec=Garbage())
    for r in h.rounds:
        assert "c0" not in r.accepted and "checksum" in r.failures["c0"]
        assert len(r.accepted) == 9
    assert issubclass(type(CorruptDataError("x")), ValueError)


def test_scaffold_runs_through_simulate_with_double_arrays(digits):
    clients, init = fleet(digits, seed=0)
    strat = Scaffold(init, num_clients=10)
    h = simulate(strat, clients, rounds=3, fraction=0.5, seed=0, evaluate_fn=evaluator(digits))
    raw = len(pack_arrays(init + init))
    assert set(h.rounds[0].bytes_up.values()) == {raw}
    assert len(h.parameters) == 2 and h.parameters[0].dtype == np.float32
    assert float(np.abs(strat.control[0]).max()) > 0


def test_secure_aggregation_matches_the_plain_round(digits):
    """The secure sum's keys have their own generator, so a secure run samples the same
    clients as the plain run in every round; the same model up to the fixed-point
    resolution, and every protocol message counted."""
    secagg = pytest.importorskip("edgekit.federated.secagg")
    runs = {}
    for label, kw in (("plain", {}), ("secure", {"secure_aggregation": secagg.SecAggConfig()})):
        clients, init = fleet(digits, seed=0)
        runs[label] = simulate(Scaffold(init, num_clients=10), clients, rounds=4, fraction=0.5,
                               seed=4, dropout=0.3, **kw)
    assert [r.selected for r in runs["plain"].rounds] == [r.selected for r in
                                                         runs["secure"].rounds]
    p, s = runs["plain"].rounds[-1], runs["secure"].rounds[-1]
    assert sorted(p.accepted) == sorted(s.accepted) and 0 < len(s.accepted) < 10
    assert p.failures == s.failures
    for a, b in zip(runs["plain"].parameters, runs["secure"].parameters, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3)  # 2^-11 on n_k * delta_k
    # the clients that dropped out had advertised their keys: they sent bytes too
    assert set(s.bytes_up) == set(s.selected) and set(p.bytes_up) == set(p.accepted)
    assert all(s.bytes_down[c] > p.bytes_down[c] for c in s.selected)
    assert all(s.bytes_up[c] > p.bytes_up[c] for c in s.accepted)
    # below the threshold (strict majority of the 10 selected) the round aborts, model kept
    clients, init = fleet(digits, seed=0)
    h = simulate(Scaffold(init, num_clients=10), clients, rounds=1, fraction=1.0, seed=4,
                 dropout=0.9, secure_aggregation=secagg.SecAggConfig())
    assert h.rounds[0].aborted and not h.rounds[0].accepted
    assert all(np.array_equal(a, b) for a, b in zip(h.parameters, init, strict=True))


def test_demo_section_prints_measured_figures():
    import io
    import re

    from edgekit import _demo as demo
    from edgekit.federated import _demo

    assert "federated" in demo.SECTIONS
    out = io.StringIO()
    rows = _demo.run(out)
    text = out.getvalue()
    accs = dict(re.findall(r"(\w+) +held-out accuracy ([\d.]+)%", text))
    assert set(accs) == {"fedavg", "fedadam", "scaffold"}
    assert float(accs["scaffold"]) > float(accs["fedavg"]) > 80
    assert "2,636 B up per client per round" in text
    fedavg, median = map(float, re.findall(r"FedAvg ([\d.]+)%, coordinate median ([\d.]+)%",
                                           text)[0])
    assert fedavg < 20 and median > 80
    assert len(rows) == 2


def test_progress_without_tqdm_prints_a_line_per_round(digits, capsys):
    clients, init = fleet(digits, seed=0)
    simulate(FedAvg(init, lr_decay=0.5), clients, rounds=2, fraction=0.5, seed=0,
             progress=True, evaluate_fn=evaluator(digits))
    err = capsys.readouterr().err
    try:
        import tqdm  # noqa: F401
    except ImportError:
        assert "round 1/2 accuracy" in err and "round 2/2 accuracy" in err
    else:
        assert "2/2" in err
    strat = FedAvg(init, lr_decay=0.5)
    assert strat.configure_fit(3, init).config["lr"] == pytest.approx(0.1 * 0.25)

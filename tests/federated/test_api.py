"""edgekit.federated as one public API: what it exports (and imports lazily), bad input at every
public entry point refused with a clear edgekit.errors error, and simulate's client-side
evaluation (fraction_evaluate)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import edgekit.federated as F
from edgekit.errors import (
    CorruptDataError,
    EdgekitError,
    InputError,
    InputTypeError,
    InvalidUpdateError,
)
from edgekit.types import EvaluateResult

_RNG = np.random.default_rng(0)
_X = _RNG.random((40, 4)).astype(np.float32)
_Y = np.arange(40) % 3
_INIT = F.softmax_parameters(4, 3)


def _clients(n: int = 4) -> dict[str, F.SoftmaxClient]:
    return {f"c{i}": F.SoftmaxClient(_X[i::n], _Y[i::n], n_classes=3, seed=i) for i in range(n)}


def _sim(**kw):
    args = {"rounds": 2, "fraction": 0.5, "seed": 0, "progress": False, **kw}
    strategy = args.pop("strategy", None) or F.FedAvg(_INIT)
    clients = args.pop("clients", None)
    return F.simulate(strategy, _clients() if clients is None else clients, **args)


# --- the namespace ----------------------------------------------------------------------------

def test_every_exported_name_resolves_and_the_submodules_agree():
    from edgekit.federated import compression, network, privacy, secagg

    for name in F.__all__:
        assert getattr(F, name) is not None, name
    for mod in (compression, privacy, secagg, network):
        for name in mod.__all__:
            if name in F.__all__:
                assert getattr(F, name) is getattr(mod, name), name
    for name in ("Float32Codec", "QuantizedCodec", "TopKCodec", "CentralDP", "LocalDP",
                 "privacy_spent", "clip_update", "SecAggConfig", "SecAggServer", "SecAggClient",
                 "SecureSum", "secure_sum", "plain_fixed_point_sum", "update_vector",
                 "mean_update", "Coordinator", "run_client", "NetworkHistory"):
        assert name in F.__all__ and name in dir(F), name
    with pytest.raises(AttributeError):
        F.no_such_name  # noqa: B018


def test_network_secagg_and_flower_are_imported_only_on_use():
    code = ("import sys, edgekit.federated as F\n"
            "heavy = ('edgekit.federated.network', 'edgekit.federated.secagg', "
            "'edgekit.federated.flower', 'aiohttp', 'flwr')\n"
            "assert not [m for m in heavy if m in sys.modules], sys.modules.keys()\n"
            "F.Coordinator\n"
            "assert 'edgekit.federated.network' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(_repo_root()))


def _repo_root():
    from pathlib import Path
    return Path(__file__).resolve().parents[2]


# --- bad input --------------------------------------------------------------------------------

_NAN = float("nan")
_BAD_SIMULATE = [
    ({"rounds": 0}, InputError), ({"rounds": 1.5}, InputTypeError),
    ({"rounds": True}, InputTypeError), ({"fraction": _NAN}, InputError),
    ({"fraction": "half"}, InputTypeError), ({"fraction": 2}, InputError),
    ({"seed": "x"}, InputTypeError), ({"seed": -1}, InputError),
    ({"min_clients": 10}, EdgekitError), ({"min_clients": -1}, InputError),
    ({"min_clients": "2"}, InputTypeError), ({"dropout": _NAN}, InputError),
    ({"dropout": "a"}, InputError), ({"dropout": 1.0}, InputError),
    ({"strategy": "fedavg"}, InputTypeError), ({"clients": {}}, EdgekitError),
    ({"clients": 5}, InputError), ({"clients": {1: None, "1": None}}, InputError),
    ({"codec": "q8"}, InputTypeError), ({"secure_aggregation": {}}, InputTypeError),
    ({"evaluate_fn": 3}, InputTypeError), ({"progress": 3}, InputTypeError),
    ({"fraction_evaluate": 2}, InputError), ({"fraction_evaluate": "all"}, InputTypeError),
]


@pytest.mark.parametrize(("kw", "error"), _BAD_SIMULATE, ids=[str(k) for k, _ in _BAD_SIMULATE])
def test_simulate_refuses_bad_arguments(kw, error):
    if kw.get("clients") == {1: None, "1": None}:
        c = _clients()
        kw = {"clients": {1: c["c0"], "1": c["c1"]}}
    with pytest.raises(error):
        _sim(**kw)


def test_secure_aggregation_options_are_checked_alike():
    cfg = F.SecAggConfig()
    with pytest.raises(InputError, match="no codec"):
        _sim(secure_aggregation=cfg, codec=F.Float32Codec())
    with pytest.raises(InputError, match="every update"):
        _sim(secure_aggregation=cfg, strategy=F.FedMedian(_INIT))


_BAD_CALLS = {
    "FedAvg([])": (lambda: F.FedAvg([]), InputError),
    "FedAvg(None)": (lambda: F.FedAvg(None), InputTypeError),
    "FedAvg(nan)": (lambda: F.FedAvg([np.array([_NAN])]), InputError),
    "FedAvg(str)": (lambda: F.FedAvg(["abc"]), InputTypeError),
    "FedAvg(ragged)": (lambda: F.FedAvg([[[1.0], [1.0, 2.0]]]), InputTypeError),
    "FedAvg fraction_fit=0": (lambda: F.FedAvg(_INIT, fraction_fit=0), InputError),
    "FedAvg min_fit_clients=1.5": (lambda: F.FedAvg(_INIT, min_fit_clients=1.5),
                                   InputTypeError),
    "FedAvg server_lr=nan": (lambda: F.FedAvg(_INIT, server_lr=_NAN), InputError),
    "FedAvg lr_decay=-1": (lambda: F.FedAvg(_INIT, lr_decay=-1), InputError),
    "FedAdam beta_1=1.5": (lambda: F.FedAdam(_INIT, beta_1=1.5), InputError),
    "FedTrimmedAvg beta=0.6": (lambda: F.FedTrimmedAvg(_INIT, beta=0.6), InputError),
    "Krum num_selected=0": (lambda: F.Krum(_INIT, num_selected=0), InputError),
    "Scaffold num_clients=1.5": (lambda: F.Scaffold(_INIT, num_clients=1.5), InputTypeError),
    "SoftmaxClient x nan": (lambda: F.SoftmaxClient(np.full((3, 4), _NAN), [0, 1, 2]),
                            InputError),
    "SoftmaxClient len": (lambda: F.SoftmaxClient(_X, _Y[:5]), InputError),
    "SoftmaxClient label >= n_classes": (lambda: F.SoftmaxClient(_X, _Y, n_classes=2),
                                         InputError),
    "SoftmaxClient float labels": (lambda: F.SoftmaxClient(_X, _Y + 0.5), InputError),
    "fit wrong shape": (lambda: _clients()["c0"].fit([np.zeros((5, 3), np.float32),
                                                      np.zeros(3, np.float32)], {}),
                        InputError),
    "fit nan params": (lambda: _clients()["c0"].fit([np.full((4, 3), _NAN, np.float32),
                                                     np.zeros(3, np.float32)], {}), InputError),
    "fit not a list": (lambda: _clients()["c0"].fit(np.zeros(3), {}), InputTypeError),
    "fit lr nan": (lambda: _clients()["c0"].fit(_INIT, {"lr": _NAN}), InputError),
    "fit lr str": (lambda: _clients()["c0"].fit(_INIT, {"lr": "x"}), InputTypeError),
    "fit epochs -1": (lambda: _clients()["c0"].fit(_INIT, {"local_epochs": -1}), InputError),
    "fit epochs 1.5": (lambda: _clients()["c0"].fit(_INIT, {"local_epochs": 1.5}), InputError),
    "fit batch 0": (lambda: _clients()["c0"].fit(_INIT, {"batch_size": 0}), InputError),
    "evaluate wrong count": (lambda: _clients()["c0"].evaluate(_INIT[:1], {}), InputError),
    "MLP fit softmax params": (lambda: F.MLPClient(_X, _Y, n_classes=3).fit(_INIT, {}),
                               InputError),
    "accuracy wrong features": (lambda: F.accuracy(_clients()["c0"], _INIT, _X[:, :2], _Y),
                                InputError),
    "PoisonedClient factor nan": (lambda: F.PoisonedClient(_clients()["c0"], factor=_NAN),
                                  InputError),
    "PoisonedClient no client": (lambda: F.PoisonedClient(3), InputTypeError),
    "train_centralised epochs 0": (lambda: F.train_centralised(_clients()["c0"], _INIT,
                                                               epochs=0), InputError),
    "softmax_parameters 0": (lambda: F.softmax_parameters(0, 3), InputError),
    "mlp_parameters -1": (lambda: F.mlp_parameters(4, -1, 3), InputError),
    "dirichlet alpha nan": (lambda: F.dirichlet_partition(_Y, 2, alpha=_NAN), InputError),
    "iid n=0": (lambda: F.iid_partition(_Y, 0), InputError),
    "sample_clients duplicate ids": (lambda: F.sample_clients(["a", "a"], fraction=1,
                                                              minimum=1, rng=_RNG), InputError),
    "sample_clients fraction str": (lambda: F.sample_clients(["a"], fraction="x", minimum=1,
                                                             rng=_RNG), InputTypeError),
    "QuantizedCodec bits=3": (lambda: F.QuantizedCodec(bits=3), InputError),
    "TopKCodec nan": (lambda: F.TopKCodec(_NAN), InputError),
    "clip_update nan": (lambda: F.clip_update(_INIT, _NAN), InputError),
    "LocalDP clip 0": (lambda: F.LocalDP(_clients()["c0"], clip_norm=0, noise_multiplier=1),
                       InputError),
    "privacy_spent rate 2": (lambda: F.privacy_spent(1.0, 2.0, 3), InputError),
    "SecAggConfig threshold 0": (lambda: F.SecAggConfig(threshold=0), InputError),
    "update_vector nan": (lambda: F.update_vector([np.array([_NAN])], 3), InputError),
    "update_vector n=-1": (lambda: F.update_vector(_INIT, -1), InputError),
    "secure_sum lengths": (lambda: F.secure_sum({"a": np.zeros(3), "b": np.zeros(4)},
                                                config=F.SecAggConfig()), InputError),
    "secure_sum nan": (lambda: F.secure_sum({"a": np.array([_NAN]), "b": np.zeros(1)},
                                            config=F.SecAggConfig()), InputError),
    "SecAggServer duplicate ids": (lambda: F.SecAggServer(["a", "a", "b"], vector_length=3,
                                                          config=F.SecAggConfig()), InputError),
}


@pytest.mark.parametrize("case", sorted(_BAD_CALLS))
def test_public_calls_refuse_bad_input_with_edgekit_errors(case):
    call, error = _BAD_CALLS[case]
    with pytest.raises(error):
        call()


def test_codecs_refuse_damaged_bytes():
    rng = np.random.default_rng(1)
    update = [np.full(a.shape, 0.01, a.dtype) for a in _INIT]
    for codec in (F.Float32Codec(), F.QuantizedCodec(bits=8), F.TopKCodec(0.5)):
        data = codec.encode(update, client="a", rng=rng)
        for bad in (data[:-3], data[:5], b"junk", bytes(len(data))):
            with pytest.raises((CorruptDataError, InvalidUpdateError)):
                codec.decode(bad, like=_INIT)


# --- client-side evaluation in simulate --------------------------------------------------------

class _Counting:
    def __init__(self, client, fail: bool = False):
        self.client, self.fail, self.evaluations = client, fail, 0

    def fit(self, parameters, config):
        return self.client.fit(parameters, config)

    def evaluate(self, parameters, config):
        self.evaluations += 1
        if self.fail:
            raise RuntimeError("sensor offline")
        return self.client.evaluate(parameters, config)


def test_fraction_evaluate_asks_clients_and_combines_their_answers():
    clients = {k: _Counting(c) for k, c in _clients().items()}
    plain = _sim(rounds=3)
    h = _sim(rounds=3, clients=clients, fraction_evaluate=0.5)
    # the fit sampling and the model are those of the run without evaluation
    assert [r.selected for r in h.rounds] == [r.selected for r in plain.rounds]
    for a, b in zip(h.parameters, plain.parameters, strict=True):
        np.testing.assert_array_equal(a, b)
    assert sum(c.evaluations for c in clients.values()) == 3 * 2
    for rec in h.rounds:
        assert len(rec.evaluated) == 2 and not rec.evaluate_failures
        assert 0.0 <= rec.metrics["client_accuracy"] <= 1.0
        assert np.isfinite(rec.metrics["client_loss"])
        for c in rec.evaluated:
            assert rec.bytes_up[c] > 0 and rec.bytes_down[c] > 0
    # the final round's metrics equal aggregate_evaluate over the final model by hand
    last = h.rounds[-1]
    by_hand = [(c, clients[c].client.evaluate(h.parameters, {})) for c in last.evaluated]
    loss, metrics = F.FedAvg(_INIT).aggregate_evaluate(3, by_hand)
    assert last.metrics["client_loss"] == pytest.approx(loss)
    assert last.metrics["client_accuracy"] == pytest.approx(metrics["accuracy"])
    assert _sim(rounds=3).rounds[0].evaluated == []


def test_an_evaluation_that_fails_is_left_out_and_the_run_goes_on():
    clients = {k: _Counting(c, fail=(k == "c0")) for k, c in _clients().items()}

    class Liar(_Counting):
        def evaluate(self, parameters, config):
            return {"loss": 0.0}

    clients["c1"] = Liar(clients["c1"].client)
    h = _sim(rounds=2, clients=clients, fraction_evaluate=1.0)
    for rec in h.rounds:
        assert "sensor offline" in rec.evaluate_failures["c0"]
        assert "EvaluateResult" in rec.evaluate_failures["c1"]
        assert sorted(rec.evaluated) == ["c2", "c3"]
        assert "client_accuracy" in rec.metrics


def test_evaluate_result_refuses_nan():
    with pytest.raises(InputError):
        EvaluateResult(_NAN, 3)

"""edgekit.federated: learning and bytes on the issue's setup against baselines in the same
process (docs/federated.md).  No wall-clock threshold: accuracy against centralised training
and FedAvg, bytes against the raw float32 model, CPU time against the clients' own training.

The full study (10 seeds, the MLP, the held-out dataset, the attack table) is
``python tools/federated_study.py``; this file keeps a quick version of its claims (the
650-parameter softmax regression on digits, 3 seeds, ~10 s) in the suite.
``pytest benchmarks/bench_federated.py --benchmark-enable`` times a round.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgekit.federated import SoftmaxClient, simulate, softmax_parameters, train_centralised
from edgekit.federated._wire import pack_arrays

pytest.importorskip("sklearn")
from edgekit.federated._tasks import (  # noqa: E402
    evaluator,
    fleet,
    load_task,
    make_strategy,
)

SEEDS = (0, 1, 2)
ROUNDS = 30


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


def _median(digits, name: str, rounds: int = ROUNDS, **sim) -> tuple[float, float]:
    """Median over SEEDS of the final held-out accuracy and of the rounds to 90 %."""
    accs, r90 = [], []
    for seed in SEEDS:
        clients, init = fleet(digits, seed=seed)
        h = simulate(make_strategy(name, init), clients, rounds=rounds, fraction=0.5,
                     seed=seed, evaluate_fn=evaluator(digits), **sim)
        accs.append(h.final("accuracy"))
        r = h.rounds_to("accuracy", 0.9)
        r90.append(r if r is not None else np.inf)
    return float(np.median(accs)), float(np.median(r90))


def test_best_strategy_against_centralised_and_fedavg(digits):
    """Measured (3 seeds, 30 rounds / epochs, softmax): centralised 96.3 %, SCAFFOLD 94.1 %
    (0.977x; asserted 0.95x) reaching 90 % in 8 rounds, FedAvg 91.7 % in 25 rounds."""
    c = SoftmaxClient(digits.x_train, digits.y_train, n_classes=10)
    central = float(np.median([
        evaluator(digits)(0, train_centralised(c, softmax_parameters(64, 10), epochs=ROUNDS,
                                               lr=0.1, batch_size=8, seed=s))
        ["accuracy"] for s in SEEDS]))
    scaffold, scaffold_r90 = _median(digits, "scaffold")
    fedavg, fedavg_r90 = _median(digits, "fedavg")
    print(f"\ncentralised {central:.4f}; scaffold {scaffold:.4f} ({scaffold_r90:g} rounds to "
          f"90%); fedavg {fedavg:.4f} ({fedavg_r90:g} rounds)")
    assert scaffold / central >= 0.95
    assert scaffold > fedavg
    assert scaffold_r90 * 1.5 <= fedavg_r90


def test_uplink_bytes_raw_and_8_bit(digits):
    """Raw: 2,636 B per client per round (2,600 B of float32 and a 36 B header); the 8-bit
    codec cuts it >= 3.5x at <= 0.3 points of accuracy (issue #18)."""
    compression = pytest.importorskip("edgekit.federated.compression")
    raw = len(pack_arrays(softmax_parameters(64, 10)))
    assert raw / 2600 <= 1.02
    clients, init = fleet(digits, seed=0)
    h = simulate(make_strategy("fedavg", init), clients, rounds=3, fraction=0.5, seed=0,
                 codec=compression.QuantizedCodec(bits=8))
    q8 = float(np.mean([b for r in h.rounds for b in r.bytes_up.values()]))
    print(f"\nraw {raw} B, 8-bit {q8:.0f} B: {raw / q8:.2f}x")
    assert raw / q8 >= 3.5
    plain_acc, _ = _median(digits, "fedadam", rounds=20)
    q8_acc, _ = _median(digits, "fedadam", rounds=20, codec=compression.QuantizedCodec(bits=8))
    print(f"fedadam accuracy raw {plain_acc:.4f}, 8-bit {q8_acc:.4f}")
    assert q8_acc >= plain_acc - 0.003 - 0.01  # 0.3 points, plus one test example of 540


def test_simulation_overhead_against_bare_training(digits, ratio):
    """simulate's CPU time (wire bytes both ways, validation, aggregation) against the same
    clients training on the same configs with none of it: measured 0.73-0.75x (the training
    dominates), asserted >= 0.6x."""
    clients, init = fleet(digits, seed=0)
    strat = make_strategy("fedavg", init)
    cfg = strat.configure_fit(1, init).config
    ids = sorted(clients)[:5]

    def bare():
        for cid in ids:
            clients[cid].fit(init, {**cfg, "seed": 1})

    def full():
        simulate(make_strategy("fedavg", init), {c: clients[c] for c in ids}, rounds=1,
                 fraction=1.0, seed=1)

    ratio("simulate 1 round / bare training (5 clients, digits)", full, bare, minimum=0.6,
          rounds=15, clock=time.thread_time)


def test_round_time(benchmark, digits):
    clients, init = fleet(digits, seed=0)
    benchmark(lambda: simulate(make_strategy("fedavg", init), clients, rounds=1, fraction=0.5,
                               seed=0))

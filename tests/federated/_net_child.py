"""A coordinator or a client of the networked runtime, as its own process, for
tests/federated/test_network.py (``python -m tests.federated._net_child ROLE ...``).

Both read the same digits fleet (made by edgekit.federated._tasks, saved by the test) and
certificates from the fleet directory (tests/federated/_net_fleet.py).  The coordinator
writes ``url`` once it listens and ``history.json`` + ``params.npz`` at the end; a client
started with
``--stall-round R`` writes ``stalled-<id>`` when it has received round R's task and then
hangs inside ``fit`` (the test kills it there)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from edgekit.federated import _tasks
from edgekit.federated.models import SoftmaxClient, softmax_parameters
from edgekit.federated.network import Coordinator, run_client
from edgekit.secure import TrustStore, client_context, server_context

FLEET = {"n_clients": 5, "alpha": 0.5, "seed": 0}


def save_fleet(path: Path) -> None:
    """The digits fleet and test set as arrays, so that a child does not import sklearn
    (0.8 s of CPU each on the test machine)."""
    task = _tasks.load_task("digits")
    clients, _init = _tasks.fleet(task, **FLEET)
    arrays = {"x_test": task.x_test, "y_test": task.y_test}
    for cid, c in clients.items():
        arrays[f"x_{cid}"], arrays[f"y_{cid}"] = c.x, c.y
    np.savez(path, **arrays)


def fleet(path: Path):
    """``(task, clients, initial parameters)`` as :func:`_tasks.fleet` makes them."""
    with np.load(path) as z:
        a = {k: z[k] for k in z.files}
    task = _tasks.Task("digits", a["x_test"][:0], a["y_test"][:0], a["x_test"], a["y_test"],
                       10)
    clients = {f"c{k}": SoftmaxClient(a[f"x_c{k}"], a[f"y_c{k}"], n_classes=10,
                                      seed=FLEET["seed"] + k)
               for k in range(FLEET["n_clients"])}
    return task, clients, softmax_parameters(task.x_test.shape[1], 10)


def strategy(init):
    return _tasks.make_strategy("fedavg", init, n_clients=FLEET["n_clients"],
                                min_fit_clients=2)


class _Stalling:
    """Hangs in ``fit`` at round ``stall_round`` after saying so in a marker file."""

    def __init__(self, client, stall_round: int, marker: Path) -> None:
        self.client, self.stall_round, self.marker = client, stall_round, marker

    def fit(self, parameters, config):
        if int(config.get("server_round", 0)) == self.stall_round:
            self.marker.write_text(str(os.getpid()))
            time.sleep(120)
        return self.client.fit(parameters, config)

    def evaluate(self, parameters, config):
        return self.client.evaluate(parameters, config)


def coordinator(a: argparse.Namespace) -> None:
    d = Path(a.dir)
    task, _clients, init = fleet(d / "fleet.npz")
    trust = TrustStore.of(d / "root.pem")
    coord = Coordinator(
        strategy(init), ssl_context=server_context(d / "server.pem", d / "server.key", trust),
        trust=trust, rounds=a.rounds, seed=a.seed, fraction=1.0, min_clients=2,
        start_clients=FLEET["n_clients"], round_timeout_s=a.round_timeout,
        registration_timeout_s=45.0, poll_wait_s=2.0, liveness_s=3.0, heartbeat_s=0.5,
        linger_s=5.0,
        evaluate_fn=_tasks.evaluator(task))
    def ready(url: str) -> None:  # written whole, then renamed: a reader never sees half
        (d / "url.tmp").write_text(url)
        (d / "url.tmp").rename(d / "url")

    history = coord.run(ready)
    np.savez(d / "params.npz", *history.parameters)
    rounds = [{"round": r.server_round, "selected": r.selected, "accepted": r.accepted,
               "failures": r.failures, "metrics": r.metrics, "bytes_up": r.bytes_up,
               "bytes_down": r.bytes_down, "aborted": r.aborted, "missing": r.missing}
              for r in history.rounds]
    (d / "history.json").write_text(json.dumps({"rounds": rounds, "clients": history.clients,
                                                "wall_time_s": history.wall_time_s}))


def client(a: argparse.Namespace) -> None:
    d = Path(a.dir)
    deadline = time.monotonic() + 30
    while not (d / "url").exists():
        if time.monotonic() > deadline:
            sys.exit("no coordinator url")
        time.sleep(0.05)
    _task, clients, _init = fleet(d / "fleet.npz")
    me = clients[a.id]
    if a.stall_round:
        me = _Stalling(me, a.stall_round, d / f"stalled-{a.id}")
    ctx = client_context(d / f"{a.id}.pem", d / f"{a.id}.key", d / "root.pem")
    report = run_client(me, (d / "url").read_text(), ssl_context=ctx, poll_wait_s=2.0,
                        give_up_after_s=20.0, seed=1)
    (d / f"report-{a.id}.json").write_text(json.dumps(
        {"client_id": report.client_id, "rounds": report.rounds,
         "bytes_up": report.bytes_up, "bytes_down": report.bytes_down}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["coordinator", "client"])
    p.add_argument("--dir", required=True)
    p.add_argument("--id")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--round-timeout", type=float, default=30.0)
    p.add_argument("--stall-round", type=int, default=0)
    a = p.parse_args()
    coordinator(a) if a.role == "coordinator" else client(a)


if __name__ == "__main__":
    main()

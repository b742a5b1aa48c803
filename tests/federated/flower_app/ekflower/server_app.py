"""The ServerApp: an edgekit strategy driven by edgekit.federated.flower.FlowerStrategy; the
run's History is written as JSON to the run config's ``out``."""

from __future__ import annotations

import json

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from edgekit.federated import _tasks
from edgekit.federated.flower import FlowerStrategy
from edgekit.federated.secagg import SecAggConfig
from ekflower.task import codec, fleet, settings

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    task, _, init = fleet(*settings(cfg))
    strategy = _tasks.make_strategy(str(cfg["strategy"]), init,
                                    n_clients=int(cfg["n-clients"]),
                                    min_fit_clients=int(cfg["min-clients"]))
    adapter = FlowerStrategy(strategy, fraction=float(cfg["fraction"]), seed=int(cfg["seed"]),
                             codec=codec(str(cfg["codec"])), node_wait_s=60.0,
                             secure_aggregation=SecAggConfig() if cfg["secagg"] else None,
                             stage_timeout_s=60.0)
    history = adapter.run(grid, rounds=int(cfg["num-server-rounds"]),
                          evaluate_fn=_tasks.evaluator(task), timeout_s=120.0)
    if cfg["out"]:
        doc = {"rounds": [{"server_round": r.server_round, "selected": r.selected,
                           "accepted": r.accepted, "failures": r.failures,
                           "metrics": r.metrics, "bytes_up": r.bytes_up,
                           "bytes_down": r.bytes_down, "aborted": r.aborted}
                          for r in history.rounds],
               "parameters": [a.tolist() for a in history.parameters],
               "dtypes": [str(a.dtype) for a in history.parameters]}
        with open(str(cfg["out"]), "w", encoding="utf-8") as f:
            json.dump(doc, f)

"""Flower's ``Grid`` with every node's ClientApp called in this process: the Message API
without a SuperLink, SuperNodes or transport, for tests and for measuring what
:mod:`edgekit.federated.flower` sends.

``python -m edgekit.federated._flower_loopback`` (in a venv with flwr and scikit-learn) prints
the table of docs/federated_flower.md: bytes per client per round and held-out accuracy
through the adapter, next to :func:`~edgekit.federated.simulate` on the same setup.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from flwr.app import Context, Error, Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity

__all__: list[str] = []

Tamper = Callable[[Message, Message], list[Message]]


class LoopbackGrid(Grid):
    """Each node (``node_config={"client-id": cid}``, a large random node id as in a
    deployment) runs ``app`` in process, with its own ``Context`` whose ``state`` persists
    between messages as a SuperNode's does.  A ClientApp exception becomes an error reply,
    as a SuperNode makes it.  ``tamper(msg, reply) -> replies`` may alter, drop or repeat
    what comes back."""

    def __init__(self, app: Callable[[Message, Context], Message], client_ids: Sequence[str],
                 tamper: Tamper | None = None, *, seed: int = 7) -> None:
        self._rng = np.random.default_rng(seed)
        self.app = app
        self.contexts: dict[int, Context] = {}
        for cid in client_ids:
            self.add_node(cid)
        self.tamper = tamper
        self.queries = 0

    def add_node(self, client_id: str) -> int:
        """A node joins (as a SuperNode connecting mid-run); its node id."""
        node = int(self._rng.integers(1, 2**62))
        self.contexts[node] = Context(run_id=1, node_id=node,
                                      node_config={"client-id": client_id},
                                      state=RecordDict(), run_config={})
        return node

    def set_run(self, run: Any) -> None:
        pass

    @property
    def run(self) -> Any:
        return None

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> Message:
        raise NotImplementedError

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        raise NotImplementedError

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        raise NotImplementedError

    def send_and_receive(self, messages: Iterable[Message], *,
                         timeout: float | None = None) -> Iterable[Message]:
        out = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            self.queries += msg.metadata.message_type == "query"
            try:
                reply = self.app(msg, self.contexts[msg.metadata.dst_node_id])
            except Exception as exc:  # what a SuperNode does with a ClientApp's exception
                reply = Message(Error(code=0, reason=f"{type(exc).__name__}: {exc}"),
                                reply_to=msg)
            out.extend(self.tamper(msg, reply) if self.tamper else [reply])
        return out


@contextlib.contextmanager
def server_identity() -> Iterator[None]:
    """Messages built outside a Flower process need a run and node identity."""
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    try:
        yield
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


def _table(rounds: int = 30) -> str:
    """Digits, 10 clients Dirichlet(0.1), 5 a round, FedAvg, seed 0: each uplink through the
    adapter and through simulate()."""
    import logging

    from edgekit.federated import _tasks, simulate
    from edgekit.federated.compression import QuantizedCodec, TopKCodec
    from edgekit.federated.flower import FlowerStrategy, client_app
    from edgekit.federated.secagg import SecAggConfig

    logging.getLogger("flwr").setLevel(logging.WARNING)
    task = _tasks.load_task("digits")
    clients, init = _tasks.fleet(task, n_clients=10, alpha=0.1, seed=0)
    rows: list[tuple[str, Callable[[], Any] | None, Any]] = [
        ("float32 (raw)", None, None), ("int8", lambda: QuantizedCodec(8), None),
        ("int4", lambda: QuantizedCodec(4), None), ("top-10% + EF", lambda: TopKCodec(0.1), None),
        ("secure aggregation", None, SecAggConfig())]
    lines = [f"| uplink | up B/client/round | down B/client/round | accuracy after {rounds} | "
             "simulate() | same model as simulate() |", "|---|---:|---:|---:|---:|---|"]
    for name, make, secure in rows:
        app = client_app(lambda c: clients[c.node_config["client-id"]],
                         codec=make() if make else None, secure_aggregation=secure)
        adapter = FlowerStrategy(_tasks.make_strategy("fedavg", init), fraction=0.5, seed=0,
                                 codec=make() if make else None, secure_aggregation=secure)
        with server_identity():
            hist = adapter.run(LoopbackGrid(app, list(clients)), rounds=rounds,
                               evaluate_fn=_tasks.evaluator(task))
        sim = simulate(_tasks.make_strategy("fedavg", init), clients, rounds=rounds,
                       fraction=0.5, seed=0, evaluate_fn=_tasks.evaluator(task),
                       codec=make() if make else None, secure_aggregation=secure,
                       progress=False)
        up = np.mean([n for r in hist.rounds for n in r.bytes_up.values()])
        down = np.mean([n for r in hist.rounds for n in r.bytes_down.values()])
        same = all(np.array_equal(a, b) for a, b in zip(hist.parameters, sim.parameters,
                                                        strict=True))
        lines.append(f"| {name} | {up:,.0f} | {down:,.0f} | {hist.final('accuracy'):.3f} | "
                     f"{sim.final('accuracy'):.3f} | "
                     f"{'bit-identical' if same else 'no: stochastic rounding differs'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(_table())

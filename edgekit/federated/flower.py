"""edgekit's federated strategies, clients and update codecs on Flower's deployment engine.

Flower (``flwr``, tested with 1.42) runs federated learning across real machines: a SuperLink
(the coordinator), SuperNodes (one per device) and an app started with ``flwr run``.  This
module lets an edgekit user keep their :class:`~edgekit.federated.Strategy`, their
:class:`~edgekit.federated.Client` and their update codec, and deploy on Flower:

* :class:`FlowerStrategy` wraps any edgekit strategy as a Flower *Message-API* strategy
  (``flwr.serverapp.strategy.Strategy``) for a ``ServerApp``; :meth:`FlowerStrategy.run`
  drives the rounds and returns edgekit's :class:`~edgekit.federated.History`.
* :func:`client_app` makes a Flower ``ClientApp`` from ``client_fn(context) -> Client``.
* :func:`update_codec_mod` is a Flower client *mod*: it replaces a training reply's
  parameters by ``codec.encode(trained - global)`` (8-bit, 4-bit, top-k... from
  :mod:`edgekit.federated.compression`), persisting a stateful codec's error-feedback
  residual in the node's ``context.state`` between rounds.
* :func:`secagg_mod` sends a training reply only through edgekit's secure aggregation
  (:mod:`edgekit.federated.secagg`), its protocol state kept in ``context.state``.
* :func:`numpy_arrays_mod` lets a ClientApp written for Flower's own numpy arrays take part
  (and, with :func:`update_codec_mod`, compress its updates).

Parameters travel as one Flower ``Array`` per message whose ``stype`` is :data:`STYPE_PARAMS`
(or :data:`STYPE_UPDATE` for a codec's update) and whose ``data`` are edgekit's checksummed
wire bytes (:func:`edgekit.federated._wire.pack_arrays`): the bytes up and down recorded in
the :class:`~edgekit.federated.RoundRecord` are ``len()`` of those payloads (Flower adds its
own message framing on top).  Replies made of ordinary Flower numpy arrays are accepted too.

Reproducibility: clients are named by their ``client-id`` (or ``partition-id``) node config,
learned with one ``query`` message when a node first appears; sampling, the shuffling seeds
sent to clients and everything else random are drawn from ``seed`` in the same order as
:func:`~edgekit.federated.simulate`, so a deployment whose nodes hold the partitions a
simulation's clients hold computes the same model (up to the float rounding of aggregating
replies; tests/federated/test_flower.py checks it on a real local deployment).

Every reply is validated like in :func:`~edgekit.federated.simulate` (array count, shape,
dtype, finite values, one answer per client): a bad one is recorded in the round's
``failures`` and left out; the round goes on.

Flower is an optional dependency (``pip install edgekit[flower]``; it pins its own versions
of ``cryptography`` and ``packaging``, so it usually gets a virtual environment of its own).
"""

from __future__ import annotations

import math
import os
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from logging import INFO, WARNING
from typing import Any

import numpy as np

try:
    from flwr.app import (
        Array,
        ArrayRecord,
        ConfigRecord,
        Context,
        Message,
        MessageType,
        MetricRecord,
        RecordDict,
    )
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid
    from flwr.serverapp.strategy import Result
    from flwr.serverapp.strategy import Strategy as _FlowerStrategy
    from flwr.supercore import log
except ImportError as _exc:  # pragma: no cover - exercised where flwr is absent
    raise ImportError(
        "edgekit.federated.flower needs Flower: pip install 'edgekit[flower]' (flwr pins "
        "its own cryptography and packaging versions: give it a virtual environment of its "
        "own)") from _exc

from edgekit.errors import (
    CorruptDataError,
    EdgekitError,
    InputError,
    InputTypeError,
    InvalidUpdateError,
    RoundAbortedError,
    SecurityError,
)
from edgekit.federated._core import Client, Parameters, Strategy, _fraction, sample_clients
from edgekit.federated._validate import (
    RoundCollector,
    check_parameters,
    check_secure_options,
)
from edgekit.federated._wire import pack_arrays, unpack_arrays
from edgekit.federated.secagg import (
    SecAggClient,
    SecAggConfig,
    SecAggServer,
    _Drbg,
    update_vector,
)
from edgekit.federated.simulation import History, RoundRecord, UpdateCodec
from edgekit.types import EvaluateResult, FitResult

__all__ = [
    "STYPE_PARAMS",
    "STYPE_UPDATE",
    "FlowerStrategy",
    "client_app",
    "from_arrayrecord",
    "numpy_arrays_mod",
    "secagg_mod",
    "to_arrayrecord",
    "update_codec_mod",
]

STYPE_PARAMS = "edgekit.ekfa"
"""``Array.stype`` of a parameter list in edgekit's wire format (one Array holds them all)."""
STYPE_UPDATE = "edgekit.ekfa-update"
"""``Array.stype`` of a codec-encoded update (client parameters - global parameters)."""

_ARRAYS = "arrays"  # RecordDict keys, as Flower's own strategies name them
_CONFIG = "config"
_METRICS = "metrics"
_NUM_EXAMPLES = "num-examples"  # Flower's weighting key
_CLIENT_ID = "client-id"
_CODEC_STATE = "edgekit.codec-residual"
_CLIENT_STATE = "edgekit.client-state"
_SECAGG = "secagg"  # the ConfigRecord carrying a secure-aggregation protocol message ("msg")
_SECAGG_ACTION = "secagg"  # message type "train.secagg": the protocol's later stages
_SECAGG_STATE = "edgekit.secagg"
_SECAGG_VECTOR = "edgekit.secagg-vector"


# --- arrays <-> Flower records -----------------------------------------------------------------


def _wire_array(data: bytes, stype: str) -> Array:
    return Array(dtype="uint8", shape=(len(data),), stype=stype, data=bytes(data))


def to_arrayrecord(parameters: Sequence[np.ndarray]) -> ArrayRecord:
    """``parameters`` as a Flower ``ArrayRecord`` holding one :data:`STYPE_PARAMS` Array (the
    wire bytes of :func:`~edgekit.federated._wire.pack_arrays`)."""
    return ArrayRecord({"ekfa": _wire_array(pack_arrays(list(parameters)), STYPE_PARAMS)})


def _payload(record: ArrayRecord) -> tuple[str, bytes] | None:
    """``(stype, bytes)`` if ``record`` is one edgekit Array, else ``None``."""
    arrays = list(record.values())
    if len(arrays) == 1 and arrays[0].stype in (STYPE_PARAMS, STYPE_UPDATE):
        return arrays[0].stype, arrays[0].data
    return None


def from_arrayrecord(record: ArrayRecord) -> Parameters:
    """The parameters in ``record``: an edgekit :data:`STYPE_PARAMS` Array, or Flower numpy
    Arrays in the record's order.  Raises :class:`~edgekit.errors.CorruptDataError` for bytes
    that do not decode and :class:`~edgekit.errors.InputError` for a codec update or an
    array type numpy cannot read."""
    found = _payload(record)
    if found is not None:
        stype, data = found
        if stype != STYPE_PARAMS:
            raise InputError("the record holds a codec-encoded update, not parameters",
                             name="record", got=stype)
        arrays, codec = unpack_arrays(data)
        if codec != 0:
            raise CorruptDataError(f"parameters packed with update codec {codec}",
                                   reason="codec")
        return arrays
    out = []
    for key, arr in record.items():
        try:
            out.append(arr.numpy())
        except (TypeError, ValueError, OSError) as exc:
            raise InputError(f"array {key!r} ({arr.stype}) is not a numpy array: {exc}",
                             name="record", got=arr.stype) from exc
    return out


def _the_arrayrecord(content: RecordDict) -> tuple[str, ArrayRecord]:
    records = list(content.array_records.items())
    if len(records) != 1:
        raise InputError(f"expected one ArrayRecord in the message, found {len(records)}",
                         name="content", got=len(records))
    return records[0]


def _config(record: ConfigRecord | None) -> dict[str, Any]:
    return dict(record.items()) if record is not None else {}


def _config_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """A strategy's config as ConfigRecord values (numpy scalars as Python ones)."""
    out = {}
    for k, v in config.items():
        v = v.item() if isinstance(v, np.generic) else v
        if not isinstance(v, (bool, int, float, str, bytes)):
            raise InputError(f"config[{k!r}] = {v!r}: a client config holds numbers, strings "
                             "and bytes", name="config", got=type(v).__name__)
        out[str(k)] = v
    return out


def _metric_values(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite scalar metrics as floats (lists and non-finite values are dropped)."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v)}


def _the_metrics(content: RecordDict) -> MetricRecord:
    records = list(content.metric_records.values())
    if len(records) != 1:
        raise InputError(f"expected one MetricRecord in the reply, found {len(records)}",
                         name="content", got=len(records))
    return records[0]


def _num_examples(metrics: MetricRecord) -> int:
    n = metrics.get(_NUM_EXAMPLES)
    if (isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n)
            or n < 0 or n != int(n)):
        raise InputError(f"the reply's {_NUM_EXAMPLES!r} must be a count, got {n!r}",
                         name=_NUM_EXAMPLES, got=n)
    return int(n)


# what a client's reply may raise when it is checked: refused, recorded, the round goes on
_REFUSED = (EdgekitError, ValueError, TypeError)


def _why(err: Exception, server_round: int, cid: str) -> str:
    """The reason a reply was refused, as a RoundRecord's ``failures`` records it."""
    if isinstance(err, InvalidUpdateError):
        return str(err)
    return f"round {server_round}, client {cid!r}: {type(err).__name__}: {err}"


def _natural(cid: str) -> tuple[int, int | str]:
    return (0, int(cid)) if cid.isdigit() else (1, cid)


# --- server side -------------------------------------------------------------------------------


class FlowerStrategy(_FlowerStrategy):
    """An edgekit :class:`~edgekit.federated.Strategy` as a Flower Message-API strategy.

    Use it in a Flower ``ServerApp``::

        app = ServerApp()

        @app.main()
        def main(grid: Grid, context: Context) -> None:
            strategy = FlowerStrategy(FedAvg(softmax_parameters(64, 10), min_fit_clients=3),
                                      fraction=1.0, seed=0)
            history = strategy.run(grid, rounds=int(context.run_config["num-server-rounds"]),
                                   evaluate_fn=my_test_accuracy)

    Each round samples ``max(min_fit_clients, ceil(fraction * n))`` of the connected nodes
    (:func:`~edgekit.federated.sample_clients`, by client id), sends each the strategy's
    :class:`~edgekit.federated.FitIns` (config plus a shuffling ``seed``), validates every
    reply (decoding codec updates with ``codec``) and calls ``strategy.aggregate_fit``.

    Args:
        strategy: the edgekit strategy (its ``min_fit_clients`` is the round's minimum).
        fraction: share of the connected clients that train each round, in (0, 1]
            (default: the strategy's ``fraction_fit``).
        seed: seeds sampling and the per-client shuffling seeds (as in ``simulate``).
        codec: the update codec the clients' :func:`update_codec_mod` uses; ``None``: clients
            send their parameters (an update from a codec-less server is refused).
        fraction_evaluate: share of the nodes asked to evaluate the model after each round
            (0: none; server-side evaluation goes through :meth:`run`'s ``evaluate_fn``).
        node_wait_s: how long a round waits for ``min_fit_clients`` nodes to be connected
            before raising :class:`~edgekit.errors.RoundAbortedError`, in seconds.
        secure_aggregation: a :class:`~edgekit.federated.secagg.SecAggConfig`: the clients
            (with :func:`secagg_mod`) send ``concat(n_k * flat(delta_k), [n_k])`` only inside
            the secure-aggregation protocol (three more message exchanges a round, type
            ``train.secagg``); the server learns the sum and calls
            ``strategy.aggregate_mean`` (the strategy needs ``supports_mean``; no codec).
            A round below the threshold keeps the model (``aborted`` says why).
        stage_timeout_s: how long each secure-aggregation stage waits for replies, seconds.
    """

    def __init__(self, strategy: Strategy, *, fraction: float | None = None, seed: int = 0,
                 codec: UpdateCodec | None = None, fraction_evaluate: float = 0.0,
                 node_wait_s: float = 120.0, secure_aggregation: SecAggConfig | None = None,
                 stage_timeout_s: float = 120.0) -> None:
        if not isinstance(strategy, Strategy):
            raise InputTypeError("strategy must be an edgekit.federated.Strategy",
                             name="strategy", got=type(strategy).__name__)
        self.strategy = strategy
        self.fraction = _fraction(strategy.fraction_fit if fraction is None else fraction,
                                  "fraction")
        fraction_evaluate = _fraction(fraction_evaluate, "fraction_evaluate", zero=True)
        check_secure_options(strategy, codec, secure_aggregation)
        self.secure_aggregation = secure_aggregation
        self.stage_timeout_s = float(stage_timeout_s)
        self._secagg: SecAggServer | None = None
        self._grid: Grid | None = None
        self.min_clients = int(strategy.min_fit_clients)
        self.codec = codec
        self.fraction_evaluate = float(fraction_evaluate)
        self.node_wait_s = float(node_wait_s)
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._eval_rng = np.random.default_rng([self.seed, 1])
        self._ids: dict[int, str] = {}  # Flower node id -> edgekit client id
        self._params: Parameters = []  # the current global model, set by configure_train
        self._round: RoundRecord | None = None
        self._sent: list[np.ndarray] = []
        self._collector: RoundCollector | None = None
        self._t0 = 0.0
        self.records: list[RoundRecord] = []
        """One :class:`~edgekit.federated.RoundRecord` per round so far."""

    # -- what Flower calls ---------------------------------------------------------------------

    def summary(self) -> None:
        """Log the configuration (Flower calls this when a run starts)."""
        log(INFO, "\t├──> edgekit strategy: %s", type(self.strategy).__name__)
        log(INFO, "\t├──> fraction %.2f, at least %d clients, seed %d", self.fraction,
            self.min_clients, self.seed)
        uplink = ("secure aggregation" if self.secure_aggregation is not None
                  else getattr(self.codec, "name", "parameters"))
        log(INFO, "\t└──> uplink: %s", uplink)

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        """Sample the round's clients and build their messages."""
        self._t0 = time.perf_counter()
        ids = self._client_ids(grid, self.min_clients, server_round)
        by_cid = {cid: node for node, cid in ids.items()}
        order = sorted(by_cid, key=_natural)
        selected = sample_clients(order, fraction=self.fraction, minimum=self.min_clients,
                                  rng=self._rng, server_round=server_round)
        params = from_arrayrecord(arrays)
        fitins = self.strategy.configure_fit(server_round, params)
        # the same draws, in the same order, as edgekit.federated.simulate
        client_seeds = self._rng.integers(0, 2**31, size=len(selected))
        self._rng.random(len(selected))  # simulate's dropout draw (no simulated dropout here)
        self._rng.integers(0, 2**63)  # simulate's codec generator (clients draw their own)
        self._params = params
        self._sent = [np.asarray(a) for a in fitins.parameters]
        self._round = RoundRecord(server_round, list(selected))
        self._collector = RoundCollector(server_round, selected, self._sent)
        payload = to_arrayrecord(self._sent)
        size = len(next(iter(payload.values())).data)
        base = {**_config(config), **_config_values(fitins.config),
                "server-round": server_round}
        hello: dict[str, bytes] = {}
        self._grid = grid
        if self.secure_aggregation is not None:
            length = sum(int(a.size) for a in self._sent) + 1
            self._secagg = SecAggServer(selected, vector_length=length,
                                        config=self.secure_aggregation,
                                        server_round=server_round)
            try:
                hello = self._secagg.start()
            except RoundAbortedError as err:
                self._round.aborted = str(err)
                self._secagg = None
        messages = []
        for cid, seed in zip(selected, client_seeds, strict=True):
            self._round.bytes_down[cid] = size + len(hello.get(cid, b""))
            content = RecordDict({_ARRAYS: payload,
                                  _CONFIG: ConfigRecord({**base, "seed": int(seed)})})
            if cid in hello:
                content[_SECAGG] = ConfigRecord({"msg": hello[cid]})
            messages.append(Message(content=content, dst_node_id=by_cid[cid],
                                    message_type=MessageType.TRAIN))
        return messages

    def aggregate_train(self, server_round: int, replies: Iterable[Message]
                        ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Validate the replies and aggregate them with the edgekit strategy."""
        rec, collector = self._round, self._collector
        if rec is None or collector is None or rec.server_round != server_round:
            raise RoundAbortedError(f"round {server_round} was not configured by this "
                                    "strategy", server_round=server_round)
        replies = list(replies)
        by_cid: dict[str, list[Message]] = {}
        for msg in replies:
            cid = self._ids.get(msg.metadata.src_node_id, str(msg.metadata.src_node_id))
            by_cid.setdefault(cid, []).append(msg)
        if self.secure_aggregation is not None:
            return self._secure_round(server_round, rec, by_cid)
        for cid in [c for c in rec.selected if c in by_cid] + [c for c in by_cid
                                                               if c not in rec.selected]:
            for msg in by_cid[cid]:
                try:
                    collector.accept(cid, self._fit_result(msg, cid, server_round, rec))
                except _REFUSED as err:
                    rec.failures.setdefault(cid, _why(err, server_round, cid))
                    log(WARNING, "round %d: client %s refused: %s", server_round, cid, err)
        for cid in rec.selected:
            if cid not in by_cid:
                rec.failures[cid] = "no reply before the timeout"
        rec.accepted = [c for c, _ in collector.results]
        new = self._params
        if collector.results:
            new, metrics = self.strategy.aggregate_fit(server_round, self._params,
                                                       collector.results)
            rec.metrics.update(metrics)
        else:
            rec.aborted = "no client answered"
        return self._close_round(rec, new)

    def _close_round(self, rec: RoundRecord, new: Sequence[np.ndarray]
                     ) -> tuple[ArrayRecord, MetricRecord]:
        rec.metrics["clients"] = float(len(rec.accepted))
        rec.wall_time_s = time.perf_counter() - self._t0
        self._params = [np.asarray(a) for a in new]
        self.records.append(rec)
        out = MetricRecord({k: float(v) for k, v in rec.metrics.items()})
        out["bytes-up"] = int(sum(rec.bytes_up.values()))
        out["bytes-down"] = int(sum(rec.bytes_down.values()))
        return ArrayRecord([np.asarray(a) for a in self._params]), out

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        """Ask ``fraction_evaluate`` of the nodes to evaluate the current model."""
        if self.fraction_evaluate == 0.0:
            return []
        ids = self._client_ids(grid, 1, server_round)
        by_cid = {cid: node for node, cid in ids.items()}
        selected = sample_clients(sorted(by_cid, key=_natural), fraction=self.fraction_evaluate,
                                  minimum=1, rng=self._eval_rng, server_round=server_round)
        payload = to_arrayrecord(from_arrayrecord(arrays))
        content = RecordDict({_ARRAYS: payload, _CONFIG: ConfigRecord(
            {**_config(config), "server-round": server_round})})
        return [Message(content=content, dst_node_id=by_cid[cid],
                        message_type=MessageType.EVALUATE) for cid in selected]

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]
                           ) -> MetricRecord | None:
        """The strategy's example-weighted mean of the nodes' evaluations."""
        results = []
        for msg in replies:
            cid = self._ids.get(msg.metadata.src_node_id, str(msg.metadata.src_node_id))
            if msg.has_error():
                log(WARNING, "round %d: client %s could not evaluate: %s", server_round, cid,
                    msg.error.reason)
                continue
            try:
                m = _the_metrics(msg.content)
                rest = {k: v for k, v in m.items() if k not in (_NUM_EXAMPLES, "loss")}
                results.append((cid, EvaluateResult(float(m["loss"]), _num_examples(m),
                                                    _metric_values(rest))))
            except (KeyError, *_REFUSED) as err:
                log(WARNING, "round %d: client %s's evaluation refused: %s", server_round, cid,
                    err)
        if not results:
            return None
        loss, metrics = self.strategy.aggregate_evaluate(server_round, results)
        out = MetricRecord({k: float(v) for k, v in metrics.items()})
        if loss is not None:
            out["loss"] = float(loss)
        if self.records and self.records[-1].server_round == server_round:
            self.records[-1].metrics.update({f"client_{k}": float(v) for k, v in out.items()})
        return out

    # -- driving a run -------------------------------------------------------------------------

    def run(self, grid: Grid, *, rounds: int,
            evaluate_fn: Callable[[int, Parameters], Mapping[str, float]] | None = None,
            timeout_s: float = 600.0) -> History:
        """Run ``rounds`` rounds on ``grid`` from the strategy's initial parameters and return
        edgekit's :class:`~edgekit.federated.History` (per-round records with bytes up/down
        per client, metrics including ``evaluate_fn``'s, the final parameters).

        Args:
            grid: the ``Grid`` Flower passes to the ``ServerApp``'s main function.
            rounds: number of rounds.
            evaluate_fn: ``(round, parameters) -> metrics`` run on the server after each
                round (as in ``simulate``).
            timeout_s: how long each round waits for replies, in seconds.
        """
        if not isinstance(rounds, int) or rounds < 1:
            raise InputError(f"rounds must be a positive int, got {rounds!r}", name="rounds",
                             got=rounds)
        t_run = time.perf_counter()
        self.records = []
        self._rng = np.random.default_rng(self.seed)  # every run repeats from the seed
        self._eval_rng = np.random.default_rng([self.seed, 1])
        initial = ArrayRecord([np.asarray(a) for a in self.strategy.initialize_parameters()])

        def server_eval(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            if evaluate_fn is None or server_round == 0:
                return None
            metrics = {k: float(v) for k, v in
                       evaluate_fn(server_round, from_arrayrecord(arrays)).items()}
            if self.records and self.records[-1].server_round == server_round:
                rec = self.records[-1]
                rec.metrics.update(metrics)
                rec.wall_time_s = time.perf_counter() - self._t0
            return MetricRecord(metrics)

        result: Result = self.start(grid=grid, initial_arrays=initial, num_rounds=rounds,
                                    timeout=timeout_s, evaluate_fn=server_eval)
        params = result.arrays.to_numpy_ndarrays() if len(result.arrays) else self._params
        return History(list(self.records), params, time.perf_counter() - t_run)

    # -- secure aggregation --------------------------------------------------------------------

    def _secure_round(self, server_round: int, rec: RoundRecord,
                      by_cid: dict[str, list[Message]]) -> tuple[ArrayRecord, MetricRecord]:
        """The protocol's remaining three exchanges, then ``aggregate_mean`` of the sum."""
        server, grid = self._secagg, self._grid
        if server is None or grid is None:  # aborted when it started
            rec.aborted = rec.aborted or "secure aggregation did not start"
            return self._close_round(rec, self._params)
        nodes = {cid: node for node, cid in self._ids.items()}
        outbox: dict[str, bytes] = {}
        try:
            for stage in range(4):
                if stage:
                    by_cid = {}
                    for msg in grid.send_and_receive(self._secagg_messages(outbox, nodes, rec),
                                                     timeout=self.stage_timeout_s):
                        cid = self._ids.get(msg.metadata.src_node_id,
                                            str(msg.metadata.src_node_id))
                        by_cid.setdefault(cid, []).append(msg)
                for cid, msgs in by_cid.items():
                    for msg in msgs:
                        try:
                            data = self._secagg_reply(msg, cid, server_round)
                            rec.bytes_up[cid] = rec.bytes_up.get(cid, 0) + len(data)
                            server.receive(cid, data)
                        except _REFUSED as err:
                            rec.failures.setdefault(cid, _why(err, server_round, cid))
                            log(WARNING, "round %d: client %s refused: %s", server_round, cid,
                                err)
                outbox = server.advance()
        except RoundAbortedError as err:
            rec.aborted = str(err)
            return self._close_round(rec, self._params)
        finally:
            self._secagg = None
        rec.accepted = list(server.senders)
        for cid in rec.selected:
            if cid not in rec.accepted:
                rec.failures.setdefault(cid, "dropped out before its masked input")
        total = np.asarray(server.total, np.float64)
        n_total = float(total[-1])
        n_int = int(round(n_total))
        if n_int <= 0:
            rec.aborted = "the secure sum holds no examples"
            return self._close_round(rec, self._params)
        mean_flat = total[:-1] / n_total
        mean, pos = [], 0
        for s in self._sent:
            mean.append(mean_flat[pos:pos + s.size].reshape(s.shape))
            pos += s.size
        if callable(getattr(self.strategy, "set_answered", None)):
            self.strategy.set_answered(len(server.senders))  # type: ignore[attr-defined]
        new, metrics = self.strategy.aggregate_mean(  # type: ignore[attr-defined]
            server_round, self._params, mean, n_int)
        rec.metrics.update(metrics)
        return self._close_round(rec, new)

    def _secagg_messages(self, outbox: Mapping[str, bytes], nodes: Mapping[str, int],
                         rec: RoundRecord) -> list[Message]:
        out = []
        for cid, data in outbox.items():
            rec.bytes_down[cid] = rec.bytes_down.get(cid, 0) + len(data)
            out.append(Message(content=RecordDict({_SECAGG: ConfigRecord({"msg": data})}),
                               dst_node_id=nodes[cid],
                               message_type=f"{MessageType.TRAIN}.{_SECAGG_ACTION}"))
        return out

    @staticmethod
    def _secagg_reply(msg: Message, cid: str, server_round: int) -> bytes:
        if msg.has_error():
            raise InvalidUpdateError(f"round {server_round}, client {cid!r}: the client "
                                     f"failed: {msg.error.reason}", client=cid,
                                     server_round=server_round)
        rec = msg.content.config_records.get(_SECAGG)
        data = rec.get("msg") if rec is not None else None
        if not isinstance(data, bytes) or msg.content.array_records:
            raise InvalidUpdateError(f"round {server_round}, client {cid!r}: expected a "
                                     "secure-aggregation message and nothing else",
                                     client=cid, server_round=server_round)
        return data

    # -- helpers -------------------------------------------------------------------------------

    def _client_ids(self, grid: Grid, needed: int, server_round: int) -> dict[int, str]:
        """Connected node id -> client id, after waiting for ``needed`` nodes; a node seen for
        the first time is asked its client id (a ``query`` message)."""
        deadline = time.monotonic() + self.node_wait_s
        while len(nodes := list(grid.get_node_ids())) < needed:
            if time.monotonic() > deadline:
                raise RoundAbortedError(
                    f"round {server_round}: {len(nodes)} nodes connected after "
                    f"{self.node_wait_s:g} s, {needed} needed", server_round=server_round,
                    needed=needed, got=len(nodes))
            time.sleep(0.5)
        new = [n for n in nodes if n not in self._ids]
        if new:
            asks = [Message(content=RecordDict({_CONFIG: ConfigRecord({"ask": _CLIENT_ID})}),
                            dst_node_id=n, message_type=MessageType.QUERY) for n in new]
            answers = {}
            for msg in grid.send_and_receive(asks, timeout=self.node_wait_s):
                cid = None
                if not msg.has_error():
                    rec = msg.content.config_records.get(_CONFIG)
                    if rec is not None and isinstance(rec.get(_CLIENT_ID), str):
                        cid = rec[_CLIENT_ID]
                answers[msg.metadata.src_node_id] = cid
            taken = set(self._ids.values())
            for n in new:
                cid = answers.get(n)
                if not cid or cid in taken:  # no answer, or a duplicate: name it by node
                    cid = str(n)
                self._ids[n] = cid
                taken.add(cid)
        return {n: self._ids[n] for n in nodes}

    def _fit_result(self, msg: Message, cid: str, server_round: int, rec: RoundRecord
                    ) -> FitResult:
        def refuse(text: str) -> InvalidUpdateError:
            return InvalidUpdateError(f"round {server_round}, client {cid!r}: {text}",
                                      client=cid, server_round=server_round)

        if msg.has_error():
            raise refuse(f"the client failed: {msg.error.reason}")
        _, record = _the_arrayrecord(msg.content)
        metrics = _the_metrics(msg.content)
        n = _num_examples(metrics)
        found = _payload(record)
        if found is not None and found[0] == STYPE_UPDATE:
            data = found[1]
            rec.bytes_up[cid] = len(data)
            if self.codec is None:
                raise refuse("sent a codec-encoded update; this server has no codec")
            got = check_parameters(list(self.codec.decode(data, like=self._sent)), self._sent,
                                   client=cid, server_round=server_round)
            params = [(np.asarray(s, np.float64) + np.asarray(d, np.float64)).astype(s.dtype)
                      for s, d in zip(self._sent, got, strict=True)]
        else:
            rec.bytes_up[cid] = (len(found[1]) if found is not None
                                 else sum(len(a.data) for a in record.values()))
            params = from_arrayrecord(record)
        rest = {k: v for k, v in metrics.items() if k != _NUM_EXAMPLES}
        return FitResult(params, n, _metric_values(rest))


# --- client side -------------------------------------------------------------------------------


def _client_id(context: Context) -> str:
    cfg = context.node_config
    for key in (_CLIENT_ID, "partition-id"):
        if key in cfg:
            return str(cfg[key])
    return str(context.node_id)


def _load_client_state(client: Any, state: RecordDict) -> None:
    if not callable(getattr(client, "set_state", None)):
        return
    saved: dict[str, Any] = {}
    scalars = state.config_records.get(_CLIENT_STATE)
    if scalars is not None:
        saved.update(scalars.items())
    for key, record in state.array_records.items():
        if key.startswith(_CLIENT_STATE + "."):
            saved[key[len(_CLIENT_STATE) + 1:]] = record.to_numpy_ndarrays()
    if saved:
        client.set_state(saved)


def _save_client_state(client: Any, state: RecordDict) -> None:
    if not callable(getattr(client, "get_state", None)):
        return
    scalars: dict[str, Any] = {}
    for key in [k for k in state.array_records if k.startswith(_CLIENT_STATE + ".")]:
        del state[key]
    for name, value in dict(client.get_state()).items():
        if value is None:
            continue
        if isinstance(value, (bool, int, float, str, bytes, np.integer, np.floating)):
            scalars[name] = value.item() if isinstance(value, np.generic) else value
        else:
            state[f"{_CLIENT_STATE}.{name}"] = ArrayRecord([np.asarray(a) for a in value])
    state[_CLIENT_STATE] = ConfigRecord(scalars)


def client_app(client_fn: Callable[[Context], Client], *,
               codec: UpdateCodec | None = None,
               secure_aggregation: SecAggConfig | None = None,
               mods: Sequence[Callable[..., Message]] = ()) -> ClientApp:
    """A Flower ``ClientApp`` around the edgekit :class:`~edgekit.federated.Client` that
    ``client_fn(context)`` builds (e.g. from ``context.node_config["partition-id"]``).

    It answers ``train`` (``client.fit``), ``evaluate`` (``client.evaluate``) and the
    ``query`` :class:`FlowerStrategy` uses to learn the node's client id (the node config's
    ``client-id``, else its ``partition-id``, else Flower's node id).  With ``codec`` the
    training reply is the encoded update (:func:`update_codec_mod`); with
    ``secure_aggregation`` it goes only masked, through the protocol (:func:`secagg_mod`);
    ``mods`` are further Flower mods, outermost first (they may also be these two, chosen
    per run).

    Flower may run each message in a new process, so ``client_fn`` builds the client every
    time.  A client that keeps state between rounds (SCAFFOLD's control variate ``c_i``, an
    optimiser's moments) keeps it if it has ``get_state() -> dict`` and ``set_state(dict)``:
    the dict (values: lists of numpy arrays, or ints, floats, strings, bytes, bools; ``None``
    values are dropped) is saved in ``context.state`` after every ``fit`` and given back to
    the next client built on the node before it trains.
    """
    if codec is not None and secure_aggregation is not None:
        raise InputError("secure aggregation sums raw fixed-point updates: no codec",
                         name="codec")
    app = ClientApp(mods=list(mods))
    train_mods = ([update_codec_mod(codec)] if codec is not None else
                  [secagg_mod(secure_aggregation)] if secure_aggregation is not None else None)

    @app.train(mods=train_mods)
    def _train(msg: Message, context: Context) -> Message:
        params = from_arrayrecord(_the_arrayrecord(msg.content)[1])
        config = _config(msg.content.config_records.get(_CONFIG))
        client = client_fn(context)
        _load_client_state(client, context.state)
        result = client.fit(params, config)
        _save_client_state(client, context.state)
        if not isinstance(result, FitResult):
            raise InputError(f"fit returned a {type(result).__name__}, not a FitResult",
                             name="result", got=type(result).__name__)
        check_parameters(result.parameters, params, client=_client_id(context),
                         server_round=config.get("server-round"))
        metrics = MetricRecord({**_metric_values(result.metrics),
                                _NUM_EXAMPLES: int(result.num_examples)})
        return Message(RecordDict({_ARRAYS: to_arrayrecord(result.parameters),
                                   _METRICS: metrics}), reply_to=msg)

    @app.train(_SECAGG_ACTION, mods=train_mods)
    def _secagg_stage(msg: Message, context: Context) -> Message:
        raise SecurityError("a secure-aggregation message, but this client runs no "
                            "secagg_mod: give client_app secure_aggregation=")

    @app.evaluate()
    def _evaluate(msg: Message, context: Context) -> Message:
        params = from_arrayrecord(_the_arrayrecord(msg.content)[1])
        config = _config(msg.content.config_records.get(_CONFIG))
        result = client_fn(context).evaluate(params, config)
        if not isinstance(result, EvaluateResult):
            raise InputError(f"evaluate returned a {type(result).__name__}, not an "
                             "EvaluateResult", name="result", got=type(result).__name__)
        metrics = MetricRecord({**_metric_values(result.metrics), "loss": float(result.loss),
                                _NUM_EXAMPLES: int(result.num_examples)})
        return Message(RecordDict({_METRICS: metrics}), reply_to=msg)

    @app.query()
    def _query(msg: Message, context: Context) -> Message:
        return Message(RecordDict({_CONFIG: ConfigRecord({_CLIENT_ID: _client_id(context)})}),
                       reply_to=msg)

    return app


def numpy_arrays_mod(msg: Message, context: Context, call_next: Callable[..., Message]
                     ) -> Message:
    """A Flower client mod that lets a ClientApp written for Flower's own numpy arrays (one
    that calls ``msg.content["arrays"].to_numpy_ndarrays()``) take part in a
    :class:`FlowerStrategy` run: the incoming edgekit wire Array becomes ordinary numpy
    Arrays (same key, one per parameter).  Replies need no conversion (the server reads numpy
    Arrays).  Put it before :func:`update_codec_mod` to compress such an app's updates."""
    for key, record in list(msg.content.array_records.items()):
        found = _payload(record)
        if found is not None and found[0] == STYPE_PARAMS:
            msg.content[key] = ArrayRecord(from_arrayrecord(record))
    return call_next(msg, context)


def _set_residual(codec: Any, client: str, residual: Parameters) -> None:
    """Give ``codec`` back ``client``'s residual (float64, as the codec keeps it)."""
    if callable(getattr(codec, "set_residual", None)):
        codec.set_residual(client, residual)
    else:  # TopKCodec has residual() and reset() but no setter yet: its documented store
        codec._residual[client] = [np.asarray(a, np.float64) for a in residual]


def update_codec_mod(codec: UpdateCodec) -> Callable[[Message, Context, Callable[..., Message]],
                                                     Message]:
    """A Flower client mod that sends ``codec.encode(trained - global)`` instead of the
    trained parameters of every ``train`` reply (``global``: the parameters the message
    brought, in edgekit's wire format or as Flower numpy arrays).

    A stateful codec (one with ``residual(client)`` and ``reset(client)``, such as
    :class:`~edgekit.federated.compression.TopKCodec` with error feedback) keeps its residual
    in ``context.state`` between rounds, since Flower may run each message in a new
    process; the codec object's own memory is reset before each encode, so a long-lived
    process does not count it twice.  The stochastic rounding generator is seeded from the
    round's ``seed`` config and the client id.
    """
    stateful = callable(getattr(codec, "residual", None)) and callable(
        getattr(codec, "reset", None))
    if stateful and not (callable(getattr(codec, "set_residual", None))
                         or isinstance(getattr(codec, "_residual", None), dict)):
        raise InputError(f"{codec!r} keeps state this mod cannot restore (no set_residual)",
                         name="codec", got=type(codec).__name__)

    def mod(msg: Message, context: Context, call_next: Callable[..., Message]) -> Message:
        if not msg.metadata.message_type.startswith(MessageType.TRAIN):
            return call_next(msg, context)
        sent = from_arrayrecord(_the_arrayrecord(msg.content)[1])
        reply = call_next(msg, context)
        if reply.has_error():
            return reply
        key, record = _the_arrayrecord(reply.content)
        trained = from_arrayrecord(record)
        cid = _client_id(context)
        check_parameters(trained, sent, client=cid, server_round=None)
        update = [(np.asarray(t, np.float64) - np.asarray(s, np.float64)).astype(s.dtype)
                  for t, s in zip(trained, sent, strict=True)]
        config = _config(msg.content.config_records.get(_CONFIG))
        seed = config.get("seed", 0)
        rng = np.random.default_rng([int(seed) if isinstance(seed, int) else 0,
                                     zlib.crc32(cid.encode())])
        if stateful:
            codec.reset(cid)  # type: ignore[attr-defined]
            stored = context.state.array_records.get(_CODEC_STATE)
            if stored is not None:
                _set_residual(codec, cid, stored.to_numpy_ndarrays())
        data = codec.encode(update, client=cid, rng=rng)
        if stateful:
            left = codec.residual(cid)  # type: ignore[attr-defined]
            if left is not None:
                context.state[_CODEC_STATE] = ArrayRecord([np.asarray(a) for a in left])
            codec.reset(cid)  # type: ignore[attr-defined]
        reply.content[key] = ArrayRecord({"update": _wire_array(data, STYPE_UPDATE)})
        return reply

    return mod



def secagg_mod(config: SecAggConfig) -> Callable[[Message, Context, Callable[..., Message]],
                                                 Message]:
    """A Flower client mod that sends a ``train`` reply only through edgekit's secure
    aggregation (:mod:`edgekit.federated.secagg`; the server side is
    :class:`FlowerStrategy` with ``secure_aggregation=``).

    The training reply's parameters become the vector ``concat(n_k * flat(trained - sent),
    [n_k])`` (as in :func:`~edgekit.federated.simulate`), given to a
    :class:`~edgekit.federated.secagg.SecAggClient` with the server's hello; the reply carries
    the client's key advertisement and nothing else, and the protocol's later messages
    (``train.secagg``) are answered here without calling the app.  A ``train`` message
    without a hello is refused (:class:`~edgekit.errors.SecurityError`): this client never
    sends its update in the clear.

    Flower may run each message in a new process, so the client's protocol state lives in
    ``context.state`` between messages: a 32-byte secret seeding the client's random bytes,
    the vector, and the server messages so far, which are replayed (deterministically) into
    a fresh :class:`SecAggClient` before the next one is handled; a replayed client refuses a
    second unmask request as the original would.  ``context.state`` stays on the node (the
    SuperNode's memory), as a long-lived client's keys would.

    Args:
        config: this client's own :class:`SecAggConfig` (it refuses a server asking for
            another scale or clip, or a lower threshold).
    """
    if not isinstance(config, SecAggConfig):
        raise InputError("config must be a SecAggConfig", name="config",
                         got=type(config).__name__)

    def restore(state: RecordDict) -> tuple[SecAggClient, list[bytes]]:
        saved = state.config_records.get(_SECAGG_STATE)
        vec = state.array_records.get(_SECAGG_VECTOR)
        if saved is None or vec is None:
            raise SecurityError("no secure-aggregation round in progress on this node")
        seed, msgs = saved["seed"], list(saved["msgs"])
        client = SecAggClient(vec.to_numpy_ndarrays()[0], config,
                              random_bytes=_Drbg(seed))  # type: ignore[arg-type]
        for old in msgs:
            client.handle(old)
        return client, msgs

    def mod(msg: Message, context: Context, call_next: Callable[..., Message]) -> Message:
        kind = msg.metadata.message_type
        if kind == f"{MessageType.TRAIN}.{_SECAGG_ACTION}":
            rec = msg.content.config_records.get(_SECAGG)
            data = rec.get("msg") if rec is not None else None
            if not isinstance(data, bytes):
                raise CorruptDataError("a secure-aggregation message without its bytes",
                                       reason="content")
            client, msgs = restore(context.state)
            out = client.handle(data)
            context.state[_SECAGG_STATE] = ConfigRecord(
                {"seed": context.state.config_records[_SECAGG_STATE]["seed"],
                 "msgs": [*msgs, data]})
            return Message(RecordDict({_SECAGG: ConfigRecord({"msg": out})}), reply_to=msg)
        if kind != MessageType.TRAIN and not kind.startswith(f"{MessageType.TRAIN}."):
            return call_next(msg, context)
        rec = msg.content.config_records.get(_SECAGG)
        hello = rec.get("msg") if rec is not None else None
        if not isinstance(hello, bytes):
            raise SecurityError("the server did not start secure aggregation: this client "
                                "sends its update only masked")
        sent = from_arrayrecord(_the_arrayrecord(msg.content)[1])
        reply = call_next(msg, context)
        if reply.has_error():
            return reply
        trained = from_arrayrecord(_the_arrayrecord(reply.content)[1])
        check_parameters(trained, sent, client=_client_id(context), server_round=None)
        n = _num_examples(_the_metrics(reply.content))
        vector = update_vector([np.asarray(t, np.float64) - np.asarray(s, np.float64)
                                for t, s in zip(trained, sent, strict=True)], n)
        seed = os.urandom(32)
        client = SecAggClient(vector, config, random_bytes=_Drbg(seed))
        out = client.handle(hello)
        context.state[_SECAGG_STATE] = ConfigRecord({"seed": seed, "msgs": [hello]})
        context.state[_SECAGG_VECTOR] = ArrayRecord([vector])
        return Message(RecordDict({_SECAGG: ConfigRecord({"msg": out})}), reply_to=msg)

    return mod

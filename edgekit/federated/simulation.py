"""Run a federated fleet in one process: :func:`simulate`.

Each round: sample clients, send each the strategy's arrays *as wire bytes*
(:func:`~edgekit.federated._wire.pack_arrays`), let them train, carry their answers back as
bytes (raw, or through an update codec, or inside a secure sum), validate every answer, and
aggregate.  Bytes up and down are ``len()`` of what was sent.  A client that raises, answers
with wrong arrays or non-finite values, or whose bytes do not decode is left out of the round
(recorded in :attr:`RoundRecord.failures`); the round goes on with the others.

Everything random (sampling, dropout, shuffling seeds sent to clients, stochastic codecs,
the secure-aggregation masks) comes from ``seed``: the same call gives the same
:class:`History`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgekit._validate import int_in_range
from edgekit.errors import (
    CorruptDataError,
    InputError,
    InputTypeError,
    InvalidUpdateError,
    RoundAbortedError,
)
from edgekit.federated._core import Client, Parameters, Strategy, _fraction, sample_clients
from edgekit.federated._validate import (
    RoundCollector,
    check_parameters,
    check_secure_options,
)
from edgekit.federated._wire import pack_arrays, unpack_arrays
from edgekit.types import EvaluateResult, FitResult

__all__ = ["History", "RoundRecord", "UpdateCodec", "simulate"]

if TYPE_CHECKING:
    from edgekit.federated.secagg import SecAggConfig


class UpdateCodec(Protocol):
    """An update codec (see :mod:`edgekit.federated.compression`)."""

    name: str

    def encode(self, update: Parameters, *, client: str, rng: np.random.Generator
               ) -> bytes:
        """``client``'s update (its parameters minus the ones sent) as bytes for the uplink;
        ``rng`` drives stochastic rounding."""
        ...

    def decode(self, data: bytes, *, like: Parameters) -> Parameters:
        """The update from ``data``, shaped and typed like ``like``; damaged bytes raise
        :class:`~edgekit.errors.CorruptDataError`, an update that does not fit ``like``
        :class:`~edgekit.errors.InvalidUpdateError`."""
        ...


@dataclass
class RoundRecord:
    """One round of a run.

    Attributes:
        server_round: 1-based round number.
        selected: the clients sampled, in the order drawn.
        accepted: the clients whose updates were aggregated.
        failures: client id -> why it is not in ``accepted`` (``"dropped"``, an error's text).
        metrics: the strategy's aggregation metrics, then ``evaluate_fn``'s.
        bytes_up, bytes_down: client id -> bytes it sent / was sent this round.
        wall_time_s: the round's wall time, in seconds.
        aborted: why the model was not updated this round (``None``: it was).
        evaluated: the clients whose evaluation of the new model (``fraction_evaluate``) was
            combined into the round's ``client_loss`` and ``client_<metric>`` metrics.
        evaluate_failures: client id -> why its evaluation is not in ``evaluated``.
    """

    server_round: int
    selected: list[str]
    accepted: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    bytes_up: dict[str, int] = field(default_factory=dict)
    bytes_down: dict[str, int] = field(default_factory=dict)
    wall_time_s: float = 0.0
    aborted: str | None = None
    evaluated: list[str] = field(default_factory=list)
    evaluate_failures: dict[str, str] = field(default_factory=dict)


@dataclass
class History:
    """What :func:`simulate` returns: per-round records, the final parameters and the total
    wall time (seconds)."""

    rounds: list[RoundRecord]
    parameters: Parameters
    wall_time_s: float

    def metric(self, name: str) -> np.ndarray:
        """``name`` per round (NaN where a round did not record it)."""
        return np.array([r.metrics.get(name, np.nan) for r in self.rounds], np.float64)

    def bytes_up(self) -> np.ndarray:
        """Uplink bytes per round, summed over clients."""
        return np.array([sum(r.bytes_up.values()) for r in self.rounds], np.int64)

    def bytes_down(self) -> np.ndarray:
        """Downlink bytes per round, summed over clients."""
        return np.array([sum(r.bytes_down.values()) for r in self.rounds], np.int64)

    def rounds_to(self, name: str, threshold: float) -> int | None:
        """The first round whose metric ``name`` is >= ``threshold`` (``None``: never)."""
        hit = np.flatnonzero(self.metric(name) >= threshold)
        return int(hit[0]) + 1 if hit.size else None

    def final(self, name: str) -> float:
        """``name`` in the last round that recorded it (NaN if none did)."""
        m = self.metric(name)
        m = m[~np.isnan(m)]
        return float(m[-1]) if m.size else float("nan")


def _progress(rounds: int, progress: Any) -> Callable[[RoundRecord], None] | None:
    if callable(progress):
        return progress
    if progress is False or (progress is None and (rounds < 20 or not sys.stderr.isatty())):
        return None
    try:
        from tqdm import tqdm  # optional
    except ImportError:
        def line(rec: RoundRecord) -> None:
            acc = rec.metrics.get("accuracy")
            tail = f" accuracy {acc:.4f}" if acc is not None else ""
            print(f"round {rec.server_round}/{rounds}{tail}", file=sys.stderr, flush=True)
        return line
    bar = tqdm(total=rounds, unit="round")

    def tick(rec: RoundRecord) -> None:
        bar.update(1)
        if "accuracy" in rec.metrics:
            bar.set_postfix(accuracy=f"{rec.metrics['accuracy']:.4f}")
        if rec.server_round == rounds:
            bar.close()
    return tick


def _client_ids(clients: Mapping[str, Client] | Sequence[Client]) -> dict[str, Client]:
    if isinstance(clients, Mapping):
        out = {str(k): v for k, v in clients.items()}
    elif isinstance(clients, Sequence) and not isinstance(clients, (str, bytes)):
        out = {str(i): c for i, c in enumerate(clients)}
    else:
        raise InputError("clients must be a mapping of id to client or a sequence of clients",
                         name="clients")
    if len(out) != len(clients):
        raise InputError("client ids must be unique as strings (e.g. not both 1 and '1')",
                         name="clients")
    for cid, c in out.items():
        if not callable(getattr(c, "fit", None)):
            raise InputError(f"client {cid!r} has no fit method", name="clients", got=cid)
    return out


def simulate(strategy: Strategy, clients: Mapping[str, Client] | Sequence[Client], *,
             rounds: int, fraction: float, min_clients: int = 2, seed: int,
             evaluate_fn: Callable[[int, Parameters], Mapping[str, float]] | None = None,
             codec: UpdateCodec | None = None, secure_aggregation: SecAggConfig | None = None,
             dropout: float = 0.0, fraction_evaluate: float = 0.0,
             progress: bool | Callable[[RoundRecord], None] | None = None) -> History:
    """Train ``strategy``'s model on ``clients`` for ``rounds`` rounds.

    Args:
        strategy: what the clients are sent and how their answers are combined.
        clients: id -> client, or a sequence (ids ``"0"``, ``"1"``...).
        rounds: number of rounds.
        fraction, min_clients: each round samples ``max(min_clients, ceil(fraction * n))``
            clients (:func:`~edgekit.federated.sample_clients`).
        seed: seeds everything random (see the module's doc).
        evaluate_fn: ``(round, parameters) -> metrics`` run on the server after each round
            (e.g. test-set accuracy); its metrics join the round's.
        codec: an update codec for the uplink (clients send ``encode(w_k - w)``); ``None``:
            clients send their parameters raw (float32: 4 bytes each, plus the header).
        secure_aggregation: a :class:`~edgekit.federated.secagg.SecAggConfig`: the server
            learns only the sum of ``concat(n_k * delta_k, [n_k])`` over the clients that
            answered, and calls ``strategy.aggregate_mean``; the strategy must have
            ``supports_mean``.  Cannot be combined with ``codec``.
        dropout: probability that a selected client drops out after being sent the model
            (before it answers; with secure aggregation, before it sends its masked input).
        fraction_evaluate: after each round that updated the model, this share of all
            clients (at least one; 0: none) evaluates the new model on its own data
            (``client.evaluate``), drawn by a generator of its own (the fit sampling is the
            same as without it); ``strategy.aggregate_evaluate`` combines the answers into
            the round's ``client_loss`` and ``client_<metric>`` metrics.  The model down and
            each answer up count in the round's bytes.  A client that raises or does not
            return an :class:`~edgekit.types.EvaluateResult` is left out
            (:attr:`RoundRecord.evaluate_failures`).
        progress: ``True`` a progress bar (tqdm if installed, else a line per round),
            ``False`` none, a callable is called with each :class:`RoundRecord`; ``None``:
            a bar for runs of 20 rounds or more on a terminal.

    Returns:
        the :class:`History`.  A round where no client answered (or the secure sum aborted
        below its threshold) keeps the model and says why in ``aborted``.
    """
    if not isinstance(strategy, Strategy):
        raise InputTypeError("strategy must be an edgekit.federated.Strategy",
                             name="strategy", got=type(strategy).__name__)
    ids = _client_ids(clients)
    rounds = int_in_range(rounds, "rounds", 1, 2**31)
    seed = int_in_range(seed, "seed", 0, 2**63 - 1)
    _fraction(fraction, "fraction")
    int_in_range(min_clients, "min_clients", 0, 2**31)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0.0 <= dropout < 1.0:
        raise InputError(f"dropout must be in [0, 1), got {dropout!r}", name="dropout",
                         got=dropout)
    if evaluate_fn is not None and not callable(evaluate_fn):
        raise InputTypeError("evaluate_fn must be callable (round, parameters) -> metrics",
                             name="evaluate_fn", got=type(evaluate_fn).__name__)
    if codec is not None and not (callable(getattr(codec, "encode", None))
                                  and callable(getattr(codec, "decode", None))):
        raise InputTypeError("codec must be an update codec (encode and decode), e.g. "
                             "QuantizedCodec(bits=8)", name="codec", got=type(codec).__name__)
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise InputTypeError("progress must be True, False, None or a callable",
                             name="progress", got=type(progress).__name__)
    fraction_evaluate = _fraction(fraction_evaluate, "fraction_evaluate", zero=True)
    check_secure_options(strategy, codec, secure_aggregation)
    rng = np.random.default_rng(seed)
    eval_rng = np.random.default_rng([seed, 1])  # as the networked and Flower runtimes
    tick = _progress(rounds, progress)
    order = list(ids)
    params = strategy.initialize_parameters()
    records: list[RoundRecord] = []
    t_run = time.perf_counter()
    for server_round in range(1, rounds + 1):
        t0 = time.perf_counter()
        selected = sample_clients(order, fraction=fraction, minimum=min_clients, rng=rng,
                                  server_round=server_round)
        rec = RoundRecord(server_round, selected)
        fitins = strategy.configure_fit(server_round, params)
        sent = [np.asarray(a) for a in fitins.parameters]
        down = pack_arrays(sent)
        client_seeds = rng.integers(0, 2**31, size=len(selected))
        dropped = rng.random(len(selected)) < dropout
        codec_rng = np.random.default_rng(rng.integers(0, 2**63))
        collector = RoundCollector(server_round, selected, sent)
        for cid, cseed, drop in zip(selected, client_seeds, dropped, strict=True):
            rec.bytes_down[cid] = len(down)
            if drop:
                rec.failures[cid] = "dropped"
                continue
            try:
                arrays, _ = unpack_arrays(down)  # the client's own copy, as received
                result = ids[cid].fit(arrays, {**fitins.config, "seed": int(cseed)})
                result = _carry_up(result, sent, cid, server_round, codec, codec_rng, rec,
                                   secure=secure_aggregation is not None)
                collector.accept(cid, result)
            except (InvalidUpdateError, CorruptDataError) as err:
                rec.failures[cid] = str(err)
            except Exception as err:  # a client's crash must not end the run
                rec.failures[cid] = f"client raised {type(err).__name__}: {err}"
        rec.accepted = [c for c, _ in collector.results]
        if secure_aggregation is not None:
            params = _secure_round(strategy, params, sent, collector.results,
                                   secure_aggregation, seed, rec)
        elif not collector.results:
            rec.aborted = "no client answered"
        else:
            params, metrics = strategy.aggregate_fit(server_round, params, collector.results)
            rec.metrics.update(metrics)
        rec.metrics["clients"] = float(len(rec.accepted))
        if fraction_evaluate and rec.aborted is None:
            _evaluate_on_clients(strategy, ids, params, fraction_evaluate, eval_rng, rec)
        if evaluate_fn is not None:
            rec.metrics.update({k: float(v) for k, v in evaluate_fn(server_round,
                                                                    params).items()})
        rec.wall_time_s = time.perf_counter() - t0
        records.append(rec)
        if tick is not None:
            tick(rec)
    return History(records, params, time.perf_counter() - t_run)


def _evaluate_on_clients(strategy: Strategy, ids: dict[str, Client], params: Parameters,
                         fraction: float, rng: np.random.Generator, rec: RoundRecord) -> None:
    """``fraction`` of the clients evaluate ``params``; their answers travel as the networked
    runtime's evaluate reply and the strategy combines them into ``client_*`` metrics."""
    from edgekit.federated import _net_proto as proto

    r = rec.server_round
    down = pack_arrays(params)
    results: list[tuple[str, EvaluateResult]] = []
    for cid in sample_clients(list(ids), fraction=fraction, minimum=1, rng=rng,
                              server_round=r):
        rec.bytes_down[cid] = rec.bytes_down.get(cid, 0) + len(down)
        try:
            arrays, _ = unpack_arrays(down)
            res = ids[cid].evaluate(arrays, {"server_round": r})
            if not isinstance(res, EvaluateResult):
                raise InvalidUpdateError(
                    f"round {r}, client {cid!r}: evaluate returned a {type(res).__name__}, "
                    "not an EvaluateResult", client=cid, server_round=r, name="result",
                    got=type(res).__name__)
            up = proto.pack_message({"round": r, "loss": float(res.loss),
                                     "num_examples": res.num_examples,
                                     "metrics": {k: float(v) for k, v in res.metrics.items()}})
            rec.bytes_up[cid] = rec.bytes_up.get(cid, 0) + len(up)
            header, _ = proto.unpack_message(up)
            results.append((cid, EvaluateResult(float(header["loss"]),
                                                proto.header_int(header, "num_examples"),
                                                proto.header_metrics(header))))
        except Exception as err:  # a client's crash must not end the run
            rec.evaluate_failures[cid] = f"{type(err).__name__}: {err}"
    rec.evaluated = [c for c, _ in results]
    if results:
        loss, metrics = strategy.aggregate_evaluate(r, results)
        if loss is not None:
            rec.metrics["client_loss"] = float(loss)
        rec.metrics.update({f"client_{k}": float(v) for k, v in metrics.items()})


def _carry_up(result: object, sent: list[np.ndarray], cid: str, server_round: int,
              codec: UpdateCodec | None, codec_rng: np.random.Generator, rec: RoundRecord,
              *, secure: bool) -> FitResult:
    """The client's answer as the server gets it, after its trip over the wire."""
    if not isinstance(result, FitResult):
        raise InvalidUpdateError(f"round {server_round}, client {cid!r}: fit returned a "
                                 f"{type(result).__name__}, not a FitResult", client=cid,
                                 server_round=server_round, name="result")
    # the client's own checks before it sends (a real client would not send garbage arrays
    # it cannot even pack); the server checks again after decoding
    check_parameters(result.parameters, sent, client=cid, server_round=server_round)
    if secure:
        return result  # carried by the secure sum; its bytes are counted there
    if codec is None:
        up = pack_arrays(result.parameters)
        rec.bytes_up[cid] = len(up)
        arrays, _ = unpack_arrays(up)
        return FitResult(arrays, result.num_examples, result.metrics)
    delta = [np.asarray(r, np.float64) - np.asarray(s, np.float64)
             for r, s in zip(result.parameters, sent, strict=True)]
    delta = [d.astype(s.dtype) for d, s in zip(delta, sent, strict=True)]
    up = codec.encode(delta, client=cid, rng=codec_rng)
    rec.bytes_up[cid] = len(up)
    got = codec.decode(up, like=sent)
    got = check_parameters(list(got), sent, client=cid, server_round=server_round)
    arrays = [(np.asarray(s, np.float64) + np.asarray(d, np.float64)).astype(s.dtype)
              for s, d in zip(sent, got, strict=True)]
    return FitResult(arrays, result.num_examples, result.metrics)


def _secure_round(strategy: Any, params: Parameters, sent: list[np.ndarray],
                  results: list[tuple[str, FitResult]], config: Any,
                  seed: int, rec: RoundRecord) -> Parameters:
    """Aggregate through a secure sum of ``concat(n_k * flat(delta_k), [n_k])``: the clients
    that were selected but have no valid update drop out before sending their masked input
    (they still count towards the threshold, taken over everyone selected).  The protocol's
    keys come from their own generator (the run's seed and the round), not the sampling one,
    so a secure run samples the same clients as the plain run with the same seed."""
    from edgekit.federated.secagg import secure_sum, update_vector

    vectors = {cid: update_vector([np.asarray(a, np.float64) - np.asarray(s, np.float64)
                                   for a, s in zip(r.parameters, sent, strict=True)],
                                  r.num_examples) for cid, r in results}
    if not vectors:
        rec.aborted = "no client answered"
        return params
    try:
        protocol_seed = int(np.random.default_rng([seed, rec.server_round]).integers(0, 2**63))
        out = secure_sum(vectors, config=config, seed=protocol_seed,
                         server_round=rec.server_round,
                         drop_before_send=[c for c in rec.selected if c not in vectors])
    except RoundAbortedError as err:
        rec.aborted = str(err)
        rec.accepted = []
        return params
    for cid, n in out.bytes_up.items():
        rec.bytes_up[cid] = rec.bytes_up.get(cid, 0) + int(n)
    for cid, n in out.bytes_down.items():
        rec.bytes_down[cid] = rec.bytes_down.get(cid, 0) + int(n)
    rec.accepted = list(out.senders)
    total = np.asarray(out.total, np.float64)
    n_total = int(round(float(total[-1])))
    if n_total <= 0:
        rec.aborted = "the secure sum holds no examples"
        return params
    # the mean in float64 (the strategy casts its result), as the networked runtimes do
    mean_flat, mean, pos = total[:-1] / float(total[-1]), [], 0
    for s in sent:
        mean.append(mean_flat[pos:pos + s.size].reshape(s.shape))
        pos += s.size
    if hasattr(strategy, "set_answered"):
        strategy.set_answered(len(out.senders))
    new, metrics = strategy.aggregate_mean(rec.server_round, params, mean, n_total)
    rec.metrics.update(metrics)
    return new

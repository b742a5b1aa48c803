"""Federated learning over the network: a coordinator and its clients in separate processes,
over HTTPS with mutual TLS (:mod:`edgekit.secure`), on aiohttp (extra ``[aio]``).

* :class:`Coordinator` drives a :class:`~edgekit.federated.Strategy`: clients register,
  long-poll for their round's task (the strategy's :class:`~edgekit.federated.FitIns` as
  :mod:`edgekit.federated._wire` bytes), and post their result.  A round closes when every
  selected client has answered (or was refused), or at ``round_timeout_s``; it goes on with the
  answers it has when they are at least ``min_clients``, else the round is tried again with a
  fresh sample (``retries`` times), then :class:`~edgekit.errors.RoundAbortedError`.
* A selected client sends heartbeats while it trains; one silent for ``liveness_s`` (killed,
  cut off) is lost and its round stops waiting for it.
* :func:`run_client` is the device's side: register, poll, train, post; it reconnects with a
  jittered exponential backoff, every wait has a timeout, and it gives up after
  ``give_up_after_s`` without reaching the coordinator.

Identity: a client is the ``device_id`` of the certificate it presented in the TLS handshake
(:func:`edgekit.secure.peer_identity`, verified again after OpenSSL): there is no id field to
claim another device's.  A device without a certificate, or with one from another CA, never
gets past the handshake.

Every answer is validated before the strategy sees it (count, shapes, dtypes, finite values,
examples >= 0, one answer per round): a refused answer is recorded in the round
(:attr:`NetworkRoundRecord.failures`) and the round goes on without it.  Bytes up and down are the
``len()`` of the HTTP bodies really sent (the HTTP headers and TLS records around them are not
counted).  See ``docs/federated_network.md``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import random
import ssl
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.errors import (
    CertificateError,
    CorruptDataError,
    FetchError,
    InputError,
    InputTypeError,
    InvalidUpdateError,
    RoundAbortedError,
    RuntimeUnavailableError,
    SecurityError,
)
from edgekit.federated import _net_proto as proto
from edgekit.federated._core import Client, Parameters, Strategy, _fraction, sample_clients
from edgekit.federated._validate import (
    check_fit_result,
    check_parameters,
    check_secure_options,
)
from edgekit.federated._wire import pack_arrays, unpack_arrays
from edgekit.federated.simulation import History, RoundRecord, UpdateCodec
from edgekit.secure.identity import TrustStore
from edgekit.secure.tls import peer_identity
from edgekit.types import EvaluateResult, FitResult

__all__ = [
    "ClientReport",
    "Coordinator",
    "NetworkHistory",
    "NetworkRoundRecord",
    "run_client",
]

if TYPE_CHECKING:
    from edgekit.federated.secagg import SecAggConfig


EvaluateFn = Callable[[int, Parameters], Mapping[str, float]]


@dataclass
class NetworkRoundRecord(RoundRecord):
    """A :class:`~edgekit.federated.RoundRecord` of one attempt at a networked round.

    ``failures`` names every selected client that is not in ``accepted``: refused answers
    (their reason) and clients with no answer by ``round_timeout_s``.  ``aborted`` says why the
    model did not change (fewer than ``min_clients`` answers; the round is then tried again).

    Attributes (besides :class:`~edgekit.federated.RoundRecord`'s):
        attempt: 0, or 1, 2... for the retries of a round that had too few answers.
        missing: the selected clients with no answer by ``round_timeout_s``.
        rejected: every refused message ``(client, reason)``, including a second answer
            (the first stands) and answers to a round already closed.
    """

    attempt: int = 0
    missing: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class NetworkHistory(History):
    """What :meth:`Coordinator.run` returns: a :class:`~edgekit.federated.History` (one
    record per round attempt, retries included) and ``clients``, every device id that
    registered."""

    clients: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClientReport:
    """What :func:`run_client` returns when the coordinator says training is over.

    Attributes:
        client_id: this device's id, from its certificate (as the coordinator read it).
        rounds: the rounds this client trained in.
        refused: round -> the coordinator's reason, for answers it refused.
        failed: round -> the error ``client.fit`` (or ``client.evaluate``, prefixed
            ``evaluate:``) raised, reported to the coordinator, which leaves the client out of
            that round's aggregate; the client stays in the fleet.
        bytes_up, bytes_down: bodies sent / received.
        reconnects: how many times a request failed and was retried.
    """

    client_id: str
    rounds: tuple[int, ...]
    refused: Mapping[int, str]
    failed: Mapping[int, str]
    bytes_up: int
    bytes_down: int
    reconnects: int


def _aiohttp() -> Any:
    try:
        import aiohttp
        import aiohttp.web  # noqa: F401
    except ImportError:  # pragma: no cover - the [aio] extra is missing
        raise RuntimeUnavailableError("the networked federated runtime needs aiohttp",
                                      feature="edgekit.federated.network", extra="aio") from None
    return aiohttp


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{name} must be a number of seconds", name=name, got=value)
    if not 0 < value < float("inf"):
        raise InputError(f"{name} must be a finite number of seconds > 0", name=name,
                         got=value)
    return float(value)


def _require_mutual_tls(ctx: object, name: str) -> ssl.SSLContext:
    if not isinstance(ctx, ssl.SSLContext):
        raise InputTypeError(f"{name} must be an ssl.SSLContext (edgekit.secure."
                             f"{'server' if 'server' in name else 'client'}_context)",
                             name=name, got=type(ctx).__name__)
    if ctx.verify_mode != ssl.CERT_REQUIRED:
        raise InputError(f"{name} must verify the peer's certificate (CERT_REQUIRED): the "
                         "runtime identifies clients by their certificates", name=name)
    return ctx


# --- coordinator --------------------------------------------------------------------------------


@dataclass
class _Peer:
    registered: float
    last_seen: float
    polling: int = 0
    told: bool = False  # has been answered "training is over"


@dataclass
class _Task:
    task_id: int
    server_round: int
    attempt: int
    bodies: dict[str, bytes]  # client -> its task message (the config carries its seed)
    like: Parameters
    selected: tuple[str, ...]
    done: asyncio.Event
    started: float
    handle: Callable[[str, dict[str, Any], bytes], Any]  # an answer -> what is kept, or raise
    results: dict[str, Any] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    lost: dict[str, str] = field(default_factory=dict)  # silent past liveness_s (may return)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    bytes_up: dict[str, int] = field(default_factory=dict)
    bytes_down: dict[str, int] = field(default_factory=dict)

    def answered(self, cid: str) -> bool:
        return cid in self.results or cid in self.refused

    def check_done(self) -> None:
        if all(self.answered(c) or c in self.lost for c in self.selected):
            self.done.set()


class Coordinator:
    """Serves federated rounds of ``strategy`` to clients over mutual TLS.

    Args:
        strategy: what each round sends and how answers are aggregated.
        ssl_context: a server context that requires client certificates
            (:func:`edgekit.secure.server_context`).
        trust: the trust store the client certificates are verified against again after the
            handshake (:func:`edgekit.secure.peer_identity`); before Python 3.13 it must list
            the intermediates, as the server only sees the client's leaf.
        rounds: how many rounds to complete.
        host, port: where to listen (``port=0``: any free port; see :attr:`url`).
        fraction: the fraction of available clients selected each round (default the
            strategy's ``fraction_fit``).
        min_clients: a round needs at least this many accepted answers, and a round starts
            only with at least this many clients available (default the strategy's
            ``min_fit_clients``).
        start_clients: wait for this many registered clients before round 1 (default
            ``min_clients``), at most ``registration_timeout_s``.
        seed: seeds the client sampling (``numpy.random.default_rng(seed)``).
        round_timeout_s: seconds a round waits for its answers.
        registration_timeout_s: seconds to wait for enough clients, before round 1 and
            before any round that has too few available; then RoundAbortedError.
        poll_wait_s: seconds a client's long poll is held before "no task yet" (204).
        liveness_s: a client is available for sampling while it is polling, or when its
            last request ended less than this many seconds ago; a selected client that is
            training sends a heartbeat every ``heartbeat_s``, and one silent for
            ``liveness_s`` is lost: the round stops waiting for it (its answer is still
            taken if it comes before the round closes).
        heartbeat_s: how often a training client says it is alive (told to clients with
            each task); must be less than ``liveness_s``.
        retries: how many times a round with too few answers is tried again (fresh sample,
            same parameters) before :class:`~edgekit.errors.RoundAbortedError`.
        evaluate_fn: ``evaluate_fn(server_round, parameters) -> {metric: value}`` run on the
            coordinator after each aggregate (e.g. accuracy on a held-out set); its metrics go
            into the round's.
        fraction_evaluate: after each aggregate, this share of the available clients (at
            least one) evaluates the new parameters on its own data (``client.evaluate``;
            0: none).  The strategy's ``aggregate_evaluate`` combines their answers into the
            round's metrics as ``client_loss`` and ``client_<metric>``; the clients are drawn
            from a generator of their own, so the training rounds draw what they would without.
        codec: the update codec clients encode their deltas with (``None``: clients send
            their parameters as float32 arrays).
        secure_aggregation: a :class:`~edgekit.federated.secagg.SecAggConfig`: the
            coordinator learns only the sum of ``concat(n_k * delta_k, [n_k])`` over the
            clients whose masked input arrived (the secagg helper's protocol, its messages
            carried as tasks and answers), and calls ``strategy.aggregate_mean``; the strategy
            must have ``supports_mean``, and there is no codec.  Each of the protocol's four
            exchanges waits for its answers as a round does (``round_timeout_s``, lost
            clients); below the config's threshold the attempt is aborted.
        max_message_bytes: the largest result body accepted (HTTP 413 above).
        linger_s: after the last round, seconds to keep answering "training is over" (410)
            to clients that poll, so they stop by themselves.
        progress: called with each :class:`NetworkRoundRecord` as it completes.
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        ssl_context: ssl.SSLContext,
        trust: TrustStore,
        rounds: int,
        host: str = "127.0.0.1",
        port: int = 0,
        fraction: float | None = None,
        min_clients: int | None = None,
        start_clients: int | None = None,
        seed: int | None = 0,
        round_timeout_s: float = 60.0,
        registration_timeout_s: float = 60.0,
        poll_wait_s: float = 10.0,
        liveness_s: float = 10.0,
        heartbeat_s: float = 2.0,
        retries: int = 1,
        evaluate_fn: EvaluateFn | None = None,
        fraction_evaluate: float = 0.0,
        codec: UpdateCodec | None = None,
        secure_aggregation: SecAggConfig | None = None,
        max_message_bytes: int = 64 << 20,
        linger_s: float = 5.0,
        progress: Callable[[NetworkRoundRecord], None] | None = None,
    ) -> None:
        if not isinstance(strategy, Strategy):
            raise InputTypeError("strategy must be an edgekit.federated.Strategy",
                                 name="strategy", got=type(strategy).__name__)
        self.strategy = strategy
        self.ssl_context = _require_mutual_tls(ssl_context, "ssl_context")
        self.trust = TrustStore.of(trust)
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise InputError("rounds must be an integer >= 1", name="rounds", got=rounds)
        self.rounds = rounds
        self.host, self.port = host, int(port)
        self.fraction = _fraction(strategy.fraction_fit if fraction is None else fraction,
                                  "fraction")
        self.min_clients = int(strategy.min_fit_clients if min_clients is None
                               else min_clients)
        if self.min_clients < 1:
            raise InputError("min_clients must be >= 1", name="min_clients", got=min_clients)
        self.start_clients = max(self.min_clients, int(start_clients or 0))
        self.seed = seed
        self.round_timeout_s = _seconds(round_timeout_s, "round_timeout_s")
        self.registration_timeout_s = _seconds(registration_timeout_s,
                                               "registration_timeout_s")
        self.poll_wait_s = _seconds(poll_wait_s, "poll_wait_s")
        self.liveness_s = _seconds(liveness_s, "liveness_s")
        self.heartbeat_s = _seconds(heartbeat_s, "heartbeat_s")
        if self.heartbeat_s >= self.liveness_s:
            raise InputError("heartbeat_s must be less than liveness_s", name="heartbeat_s",
                             expected=f"< {self.liveness_s:g}", got=heartbeat_s)
        self.linger_s = _seconds(linger_s, "linger_s")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InputError("retries must be an integer >= 0", name="retries", got=retries)
        self.retries = retries
        self.evaluate_fn = evaluate_fn
        self.fraction_evaluate = _fraction(fraction_evaluate, "fraction_evaluate", zero=True)
        self.codec = codec
        check_secure_options(strategy, codec, secure_aggregation)
        self.secure_aggregation = secure_aggregation
        self.max_message_bytes = int(max_message_bytes)
        self.progress = progress
        self.url: str | None = None
        self._peers: dict[str, _Peer] = {}
        self._ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._task: _Task | None = None
        self._next_task = 1
        self._finished = False
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None

    # --- running ------------------------------------------------------------------------

    def run(self, ready: Callable[[str], None] | None = None) -> NetworkHistory:
        """Serve until ``rounds`` rounds are complete; returns the history.  ``ready(url)``
        is called once the coordinator listens (``url``: ``https://host:port``)."""
        return asyncio.run(self.serve(ready))

    def stop(self) -> None:
        """Stop a running :meth:`run` from another thread (it raises CancelledError)."""
        loop, main = self._loop, self._main
        if loop is not None and main is not None:
            loop.call_soon_threadsafe(main.cancel)

    async def serve(self, ready: Callable[[str], None] | None = None) -> NetworkHistory:
        """:meth:`run` in a running event loop."""
        if self._loop is not None:
            raise InputError("a Coordinator serves one run: make a new one", name="run")
        aiohttp = _aiohttp()
        web = aiohttp.web
        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=self.max_message_bytes)
        app.router.add_post(f"{proto.API}/register", self._authenticated(self._h_register))
        app.router.add_get(f"{proto.API}/task", self._authenticated(self._h_task))
        app.router.add_post(f"{proto.API}/result", self._authenticated(self._h_result))
        app.router.add_post(f"{proto.API}/heartbeat", self._authenticated(self._h_heartbeat))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            self.url = f"https://{self.host}:{port}"
            if ready is not None:
                ready(self.url)
            try:
                return await self._run_rounds()
            except RoundAbortedError:
                raise
            finally:  # tell the clients that poll that training is over (also after an abort)
                self._finish()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._linger()
        finally:
            self._finish()
            await runner.cleanup()

    def _finish(self) -> None:
        self._finished = True
        self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def _linger(self) -> None:
        """Answer 410 to polling clients until each registered client was told, or linger_s."""
        deadline = time.monotonic() + self.linger_s
        while time.monotonic() < deadline and any(
                p.polling or time.monotonic() - p.last_seen < self.liveness_s
                for p in self._peers.values() if not p.told):
            await asyncio.sleep(0.05)

    # --- rounds -------------------------------------------------------------------------

    def _available(self) -> list[str]:
        now = time.monotonic()
        return sorted(c for c, p in self._peers.items()
                      if p.polling or now - p.last_seen < self.liveness_s)

    async def _wait_for_clients(self, needed: int, server_round: int) -> list[str]:
        deadline = time.monotonic() + self.registration_timeout_s
        while True:
            available = self._available()
            if len(available) >= needed:
                return available
            if time.monotonic() >= deadline:
                raise RoundAbortedError(
                    f"round {server_round}: {len(available)} clients available after "
                    f"{self.registration_timeout_s:g} s, at least {needed} needed",
                    server_round=server_round, needed=needed, got=len(available))
            await asyncio.sleep(0.05)

    async def _run_rounds(self) -> NetworkHistory:
        start = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        self._eval_rng = np.random.default_rng(None if self.seed is None else [self.seed, 1])
        params = self.strategy.initialize_parameters()
        records: list[RoundRecord] = []
        await self._wait_for_clients(self.start_clients, 1)
        for server_round in range(1, self.rounds + 1):
            for attempt in range(self.retries + 1):
                record, new_params = await self._round(server_round, attempt, params, rng)
                records.append(record)
                if self.progress is not None:
                    self.progress(record)
                if record.aborted is None:
                    params = new_params
                    break
            else:
                raise RoundAbortedError(
                    f"round {server_round}: fewer than {self.min_clients} accepted answers in "
                    f"{self.retries + 1} attempts", server_round=server_round,
                    needed=self.min_clients, got=len(records[-1].accepted))
        return NetworkHistory(rounds=records, parameters=params,
                              wall_time_s=time.perf_counter() - start,
                              clients=sorted(self._peers))

    def _draws(self, server_round: int, params: Parameters, selected: Sequence[str],
               rng: np.random.Generator) -> tuple[Parameters, dict[str, Any], list[int]]:
        """What is sent, its config, and a seed per client.  The random draws are
        :func:`~edgekit.federated.simulate`'s, in its order (the client seeds, its dropout
        draw, its codec generator), so that with the same seed and the same clients available
        a round sends what the simulation's sends."""
        fit_ins = self.strategy.configure_fit(server_round, params)
        like = [np.asarray(a) for a in fit_ins.parameters]
        client_seeds = rng.integers(0, 2**31, size=len(selected))
        rng.random(len(selected))  # simulate's dropout draw
        rng.integers(0, 2**63)  # simulate's codec generator
        return like, dict(fit_ins.config), [int(x) for x in client_seeds]

    def _fit_bodies(self, server_round: int, like: Parameters, config: dict[str, Any],
                    selected: Sequence[str], seeds: Sequence[int],
                    hello: bytes | None) -> dict[str, bytes]:
        arrays = pack_arrays(like)
        bodies = {}
        for cid, seed in zip(selected, seeds, strict=True):
            header = {"type": proto.FIT, "task": self._next_task, "round": server_round,
                      "heartbeat_s": self.heartbeat_s,
                      "codec": None if self.codec is None else str(self.codec.name),
                      "config": {**config, "seed": seed}}
            if hello is not None:
                header["secagg_hello"] = base64.b64encode(hello).decode("ascii")
            try:
                bodies[cid] = proto.pack_message(header, arrays)
            except (TypeError, ValueError) as exc:
                raise InputError(f"round {server_round}: the strategy's config cannot be "
                                 f"sent: {exc}", name="config") from exc
        return bodies

    async def _run_task(self, server_round: int, attempt: int, like: Parameters,
                        bodies: dict[str, bytes],
                        handle: Callable[[_Task, str, dict[str, Any], bytes], Any]) -> _Task:
        """Offer ``bodies`` to their clients and collect the answers (see
        :meth:`_wait_for_answers`)."""
        task = _Task(task_id=self._next_task, server_round=server_round, attempt=attempt,
                     bodies=bodies, like=like, selected=tuple(bodies), done=asyncio.Event(),
                     started=time.monotonic(), handle=lambda *a: handle(task, *a))
        self._next_task += 1
        self._task = task
        self._notify()
        try:
            await self._wait_for_answers(task)
        finally:
            self._task = None  # answers from now on are late
        return task

    async def _wait_for_answers(self, task: _Task) -> None:
        """Until every selected client answered or is lost, or ``round_timeout_s``."""
        deadline = task.started + self.round_timeout_s
        while not task.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(task.done.wait(), min(left, 0.25))
            now = time.monotonic()
            for c in task.selected:
                peer = self._peers.get(c)
                if (not task.answered(c) and c not in task.lost and peer is not None
                        and not peer.polling and now - peer.last_seen > self.liveness_s):
                    task.lost[c] = (f"lost: nothing heard from it for {self.liveness_s:g} s "
                                    "while it trained")
            task.check_done()

    async def _round(self, server_round: int, attempt: int, params: Parameters,
                     rng: np.random.Generator) -> tuple[NetworkRoundRecord, Parameters]:
        available = await self._wait_for_clients(self.min_clients, server_round)
        t0 = time.perf_counter()
        selected = tuple(sample_clients(available, fraction=self.fraction,
                                        minimum=self.min_clients, rng=rng,
                                        server_round=server_round))
        like, config, seeds = self._draws(server_round, params, selected, rng)
        rec = NetworkRoundRecord(server_round, list(selected), attempt=attempt)
        new_params = params
        if self.secure_aggregation is None:
            bodies = self._fit_bodies(server_round, like, config, selected, seeds, None)
            task = await self._run_task(server_round, attempt, like, bodies,
                                        self._decode_result)
            self._close(rec, task)
            rec.accepted = [c for c in selected if c in task.results]
            if len(rec.accepted) < self.min_clients:
                rec.aborted = (f"{len(rec.accepted)} accepted answers, at least "
                               f"{self.min_clients} needed")
            else:
                results = [(c, task.results[c]) for c in rec.accepted]
                new_params, metrics = await asyncio.to_thread(
                    self.strategy.aggregate_fit, server_round, params, results)
                rec.metrics.update(metrics)
        else:
            new_params = await self._secure_round(rec, attempt, params, like, config, seeds,
                                                  rng)
        rec.metrics["clients"] = float(len(rec.accepted))
        if self.evaluate_fn is not None and rec.aborted is None:
            extra = await asyncio.to_thread(self.evaluate_fn, server_round, new_params)
            rec.metrics.update({k: float(v) for k, v in extra.items()})
        if self.fraction_evaluate and rec.aborted is None:
            await self._evaluate_on_clients(rec, attempt, new_params)
        rec.wall_time_s = time.perf_counter() - t0
        return rec, new_params

    async def _evaluate_on_clients(self, rec: NetworkRoundRecord, attempt: int,
                                   params: Parameters) -> None:
        """Ask ``fraction_evaluate`` of the available clients to evaluate ``params``."""
        available = self._available()
        if not available:
            return
        r = rec.server_round
        selected = sample_clients(available, fraction=self.fraction_evaluate, minimum=1,
                                  rng=self._eval_rng, server_round=r)
        arrays = pack_arrays(params)
        bodies = {c: proto.pack_message({"type": proto.EVALUATE, "task": self._next_task,
                                         "round": r, "heartbeat_s": self.heartbeat_s,
                                         "config": {"server_round": r}}, arrays)
                  for c in selected}

        def handle(task: _Task, cid: str, header: dict[str, Any], payload: bytes) -> Any:
            loss = header.get("loss")
            if isinstance(loss, bool) or not isinstance(loss, (int, float)):
                raise InvalidUpdateError(f"round {r}, client {cid!r}: an evaluation without "
                                         "a loss", client=cid, server_round=r, name="loss")
            return EvaluateResult(float(loss), proto.header_int(header, "num_examples"),
                                  proto.header_metrics(header))  # InputError when not finite

        task = await self._run_task(r, attempt, params, bodies, handle)
        for c, n in task.bytes_up.items():
            rec.bytes_up[c] = rec.bytes_up.get(c, 0) + n
        for c, n in task.bytes_down.items():
            rec.bytes_down[c] = rec.bytes_down.get(c, 0) + n
        rec.rejected += [(c, f"evaluate: {why}") for c, why in task.rejected]
        rec.rejected += [(c, f"evaluate: {task.lost.get(c, 'no answer')}")
                         for c in selected if not task.answered(c)]
        results = [(c, task.results[c]) for c in selected if c in task.results]
        if results:
            loss, metrics = self.strategy.aggregate_evaluate(r, results)
            if loss is not None:
                rec.metrics["client_loss"] = float(loss)
            rec.metrics.update({f"client_{k}": float(v) for k, v in metrics.items()})

    def _close(self, rec: NetworkRoundRecord, task: _Task) -> None:
        """Add a finished task's failures, bytes and refusals to the round's record."""
        missing = [c for c in task.selected if not task.answered(c)]
        rec.missing += [c for c in missing if c not in rec.missing]
        for c in missing:
            rec.failures.setdefault(c, task.lost.get(
                c, f"no answer within {self.round_timeout_s:g} s"))
        for c, why in task.refused.items():
            rec.failures.setdefault(c, why)
        for c, n in task.bytes_up.items():
            rec.bytes_up[c] = rec.bytes_up.get(c, 0) + n
        for c, n in task.bytes_down.items():
            rec.bytes_down[c] = rec.bytes_down.get(c, 0) + n
        rec.rejected += task.rejected

    async def _secure_round(self, rec: NetworkRoundRecord, attempt: int, params: Parameters,
                            like: Parameters, config: dict[str, Any], seeds: list[int],
                            rng: np.random.Generator) -> Parameters:
        """A round through the secure-aggregation protocol: the fit task carries the hello,
        the answers carry each client's keys, three more exchanges give the sum of
        ``concat(n_k * flat(delta_k), [n_k])`` over the clients whose masked input arrived, and
        the strategy gets the mean delta (:meth:`aggregate_mean`), as in
        :func:`~edgekit.federated.simulate`."""
        from edgekit.federated.secagg import SecAggServer

        r, selected = rec.server_round, tuple(rec.selected)
        session = os.urandom(8)  # masks cancel in the sum: the session only has to be fresh
        length = sum(int(a.size) for a in like) + 1
        server = SecAggServer(selected, vector_length=length, config=self.secure_aggregation,
                              session=session, server_round=r)
        hello = server.start()[selected[0]]
        bodies = self._fit_bodies(r, like, config, selected, seeds, hello)

        def take(stage: int) -> Callable[[_Task, str, dict[str, Any], bytes], Any]:
            def handle(task: _Task, cid: str, header: dict[str, Any], payload: bytes) -> Any:
                if header.get("secagg") != stage:
                    raise InvalidUpdateError(f"round {r}, client {cid!r}: expected its "
                                             f"secure-aggregation message {stage}",
                                             client=cid, server_round=r, name="secagg")
                kept = (proto.header_int(header, "num_examples"), proto.header_metrics(header)
                        ) if stage == 0 else None
                server.receive(cid, payload)
                return kept
            return handle

        try:
            task = await self._run_task(r, attempt, like, bodies, take(0))
            self._close(rec, task)
            for stage in (1, 2, 3):
                outbox = server.advance()
                bodies = {c: proto.pack_message({"type": proto.SECAGG, "task": self._next_task,
                                                 "round": r, "stage": stage}, msg)
                          for c, msg in outbox.items()}
                task = await self._run_task(r, attempt, like, bodies, take(stage))
                self._close(rec, task)
            server.advance()
        except RoundAbortedError as err:
            rec.aborted = str(err)
            return params
        rec.accepted = list(server.senders)
        for c in rec.accepted:  # in the sum, even if it vanished before unmasking
            rec.failures.pop(c, None)
            if c in rec.missing:
                rec.missing.remove(c)
        if len(rec.accepted) < self.min_clients:
            rec.aborted = (f"{len(rec.accepted)} inputs in the secure sum, at least "
                           f"{self.min_clients} needed")
            return params
        total = np.asarray(server.total, np.float64)
        n_total = float(total[-1])
        if int(round(n_total)) <= 0:
            rec.aborted = "the secure sum holds no examples"
            return params
        mean_flat, mean, pos = total[:-1] / n_total, [], 0
        for a in like:
            mean.append(mean_flat[pos:pos + a.size].reshape(a.shape))
            pos += a.size
        if hasattr(self.strategy, "set_answered"):
            self.strategy.set_answered(len(rec.accepted))
        mean_strategy: Any = self.strategy  # supports_mean, checked in __init__
        new, metrics = await asyncio.to_thread(mean_strategy.aggregate_mean, r, params, mean,
                                               int(round(n_total)))
        rec.metrics.update(metrics)
        return new

    # --- HTTP handlers --------------------------------------------------------------------

    def _identify(self, request: Any) -> str:
        """The client's device id, from the certificate it presented (verified again)."""
        transport = request.transport
        cid = self._ids.get(transport) if transport is not None else None
        if cid is None:
            ident = peer_identity(transport, self.trust)
            if not ident.device_id:
                raise CertificateError("the client certificate names no device",
                                       reason="purpose")
            cid = ident.device_id
            self._ids[transport] = cid
        now = time.monotonic()
        peer = self._peers.get(cid)
        if peer is None:
            self._peers[cid] = _Peer(registered=now, last_seen=now)
        else:
            peer.last_seen = now
        return cid

    def _authenticated(self, handler: Callable[[Any, str], Any]) -> Callable[[Any], Any]:
        """``handler(request, client_id)``, or 403 when the peer's certificate names no
        device (the TLS handshake has already refused any other CA's)."""
        async def route(request: Any) -> Any:
            try:
                cid = self._identify(request)
            except SecurityError as err:
                return _aiohttp().web.json_response(
                    {"error": type(err).__name__, "message": str(err)}, status=403)
            return await handler(request, cid)
        return route

    async def _h_register(self, request: Any, cid: str) -> Any:
        web = _aiohttp().web
        return web.json_response({"client_id": cid, "poll_wait_s": self.poll_wait_s,
                                  "finished": self._finished})

    async def _h_task(self, request: Any, cid: str) -> Any:
        web = _aiohttp().web
        try:
            wait = float(request.query.get("wait", self.poll_wait_s))
        except ValueError:
            wait = self.poll_wait_s
        wait = min(wait, self.poll_wait_s) if math.isfinite(wait) else self.poll_wait_s
        peer = self._peers[cid]
        deadline = time.monotonic() + max(wait, 0.0)
        peer.polling += 1
        try:
            while True:
                if self._finished:
                    peer.told = True
                    return web.Response(status=410, text="training is over")
                task = self._task
                if task is not None and cid in task.selected and not task.answered(cid):
                    body = task.bodies[cid]
                    task.bytes_down[cid] = task.bytes_down.get(cid, 0) + len(body)
                    return web.Response(body=body,
                                        content_type="application/octet-stream")
                left = deadline - time.monotonic()
                if left <= 0 or self._changed is None:
                    return web.Response(status=204)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
        finally:
            peer.polling -= 1
            peer.last_seen = time.monotonic()

    async def _h_heartbeat(self, request: Any, cid: str) -> Any:
        return _aiohttp().web.Response(status=204)  # _identify refreshed last_seen

    async def _h_result(self, request: Any, cid: str) -> Any:
        web = _aiohttp().web
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            status, reason = self._too_large(cid, request.content_length)
        else:
            self._peers[cid].last_seen = time.monotonic()
            status, reason = self._take_result(cid, body)
        return web.json_response({"accepted": status == 200, "reason": reason}, status=status)

    def _too_large(self, cid: str, length: int | None) -> tuple[int, str]:
        msg = (f"an answer of {length if length is not None else 'more than'} bytes: this "
               f"coordinator takes at most {self.max_message_bytes}")
        task = self._task
        if task is not None and cid in task.selected and not task.answered(cid):
            return self._refuse(task, cid, msg, 413)
        return 413, msg

    def _take_result(self, cid: str, body: bytes) -> tuple[int, str]:
        task = self._task
        if task is not None:
            task.bytes_up[cid] = task.bytes_up.get(cid, 0) + len(body)
        expected = task is not None and cid in task.selected and not task.answered(cid)
        try:
            header, payload = proto.unpack_message(body)
            task_id = proto.header_int(header, "task", minimum=1)
        except CorruptDataError as err:
            if expected and task is not None:  # its one answer this round, unreadable
                return self._refuse(task, cid, f"undecodable answer: {err}", 400)
            return 400, f"undecodable answer: {err}"
        if task is None or task_id != task.task_id:
            if task is not None:
                task.rejected.append((cid, f"answer to closed task {task_id}"))
            return 410, f"task {task_id} is closed"
        if cid not in task.selected:
            task.rejected.append((cid, "not selected for this round"))
            return 403, "not selected for this round"
        if not task.answered(cid) and isinstance(header.get("error"), str):
            self._refuse(task, cid, f"the client failed: {header['error'][:500]}", 200)
            return 200, "noted"
        if task.answered(cid):
            msg = str(InvalidUpdateError(
                f"client {cid!r} answered round {task.server_round} twice: the first answer "
                "stands", client=cid, server_round=task.server_round))
            task.rejected.append((cid, msg))
            return 409, msg
        try:
            result = task.handle(cid, header, payload)
        except (InputError, CorruptDataError) as err:  # InvalidUpdateError is an InputError
            return self._refuse(task, cid, str(err), 422)
        task.results[cid] = result
        task.lost.pop(cid, None)
        task.check_done()
        return 200, "accepted"

    def _refuse(self, task: _Task, cid: str, reason: str, status: int) -> tuple[int, str]:
        task.refused[cid] = reason
        task.rejected.append((cid, reason))
        task.check_done()
        return status, reason

    def _decode_result(self, task: _Task, cid: str, header: dict[str, Any],
                       payload: bytes) -> FitResult:
        """The client's answer as a FitResult, checked by the validator :func:`simulate`
        uses; an update is decoded and added to what was sent as the simulation does."""
        r = task.server_round
        num_examples = proto.header_int(header, "num_examples", minimum=0)
        metrics = proto.header_metrics(header)
        if header.get("update"):
            if self.codec is None:
                raise InvalidUpdateError(f"round {r}, client {cid!r}: an encoded update, but "
                                         "this coordinator has no codec", client=cid,
                                         server_round=r, name="update")
            delta = check_parameters(list(self.codec.decode(payload, like=task.like)),
                                     task.like, client=cid, server_round=r)
            arrays = [(np.asarray(s, np.float64) + np.asarray(d, np.float64)).astype(s.dtype)
                      for s, d in zip(task.like, delta, strict=True)]
        else:
            arrays, codec_id = unpack_arrays(payload)
            if codec_id != 0:
                raise InvalidUpdateError(f"round {r}, client {cid!r}: parameters packed with "
                                         f"wire codec {codec_id}, expected raw arrays",
                                         client=cid, server_round=r, name="codec",
                                         got=codec_id)
        return check_fit_result(FitResult(arrays, num_examples, metrics), task.like,
                                client=cid, server_round=r)


# --- client -------------------------------------------------------------------------------------


def run_client(
    client: Client,
    url: str,
    *,
    ssl_context: ssl.SSLContext,
    server_hostname: str | None = None,
    codec: UpdateCodec | None = None,
    secure_aggregation: SecAggConfig | None = None,
    poll_wait_s: float = 10.0,
    request_timeout_s: float = 30.0,
    backoff_s: float = 0.2,
    backoff_max_s: float = 5.0,
    give_up_after_s: float = 60.0,
    seed: int | None = None,
) -> ClientReport:
    """Take part in a :class:`Coordinator`'s training until it says training is over.

    Args:
        client: trains on this device's data (``fit``).
        url: the coordinator's ``https://host:port``.
        ssl_context: a client context with this device's certificate
            (:func:`edgekit.secure.client_context`).
        server_hostname: the name the coordinator's certificate must carry (default the
            URL's host).
        codec: encode this client's update (its parameters minus the global ones) with an
            update codec; the coordinator must use the same codec.
        secure_aggregation: this client's own :class:`~edgekit.federated.secagg.SecAggConfig`
            (it refuses a coordinator that asks for another scale, clip or a lower
            threshold); needed when the coordinator aggregates securely.
        poll_wait_s: how long each long poll may be held by the coordinator.
        request_timeout_s: seconds for any request beyond the poll's own wait.
        backoff_s, backoff_max_s: before retry k the wait is uniform in
            ``[0, min(backoff_max_s, backoff_s * 2**(k-1))]``.
        give_up_after_s: raise :class:`~edgekit.errors.FetchError` after this many seconds
            without reaching the coordinator.
        seed: seeds the backoff jitter and a stochastic codec.

    Raises:
        CertificateError: the coordinator refused this device's certificate, or the device
            does not trust the coordinator's (neither is retried).
        FetchError: the coordinator could not be reached for ``give_up_after_s``.
    """
    if not callable(getattr(client, "fit", None)):
        raise InputTypeError("client must have a fit(parameters, config) method",
                             name="client", got=type(client).__name__)
    settings = _ClientSettings(
        ssl_context=_require_mutual_tls(ssl_context, "ssl_context"),
        server_hostname=server_hostname, codec=codec, secure_aggregation=secure_aggregation,
        poll_wait_s=_seconds(poll_wait_s, "poll_wait_s"),
        request_timeout_s=_seconds(request_timeout_s, "request_timeout_s"),
        backoff_s=_seconds(backoff_s, "backoff_s"),
        backoff_max_s=_seconds(backoff_max_s, "backoff_max_s"),
        give_up_after_s=_seconds(give_up_after_s, "give_up_after_s"), seed=seed)
    return asyncio.run(_client_loop(client, url, settings))


@dataclass(frozen=True)
class _ClientSettings:
    """:func:`run_client`'s options, checked."""

    ssl_context: ssl.SSLContext
    server_hostname: str | None
    codec: UpdateCodec | None
    secure_aggregation: SecAggConfig | None
    poll_wait_s: float
    request_timeout_s: float
    backoff_s: float
    backoff_max_s: float
    give_up_after_s: float
    seed: int | None


def _certificate_refusal(err: BaseException) -> CertificateError | None:
    """A CertificateError when ``err`` (or its causes) says the device does not trust the
    coordinator's certificate, else None."""
    seen: BaseException | None = err
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return CertificateError(f"the coordinator's certificate is refused: "
                                    f"{seen.verify_message}", reason="untrusted")
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "os_error", None)
    return None


def _probe_refusal(url: str, ctx: ssl.SSLContext, server_hostname: str | None,
                   timeout_s: float) -> CertificateError | None:
    """Whether the coordinator refuses this device's certificate.

    In TLS 1.3 the client's handshake completes before the server has checked the client's
    certificate, and an asyncio server that refuses it closes the connection without an
    alert: aiohttp only sees "server disconnected", as for a crash.  So after such a failure
    on first contact the device asks again on a plain socket: a coordinator that completes the
    handshake and then closes without answering an HTTP request has refused the certificate
    (an accepted device gets an HTTP answer, a coordinator that is down refuses the TCP
    connection)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    request = (f"GET {proto.API}/register HTTP/1.1\r\nHost: {host}\r\n"
               "Connection: close\r\n\r\n").encode("ascii")
    try:
        with socket.create_connection((host, parts.port or 443), timeout=timeout_s) as raw, \
                ctx.wrap_socket(raw, server_hostname=server_hostname or host) as tls:
            tls.sendall(request)
            answer = tls.recv(64)
    except ssl.SSLCertVerificationError as err:
        return CertificateError(f"the coordinator's certificate is refused: "
                                f"{err.verify_message}", reason="untrusted")
    except ssl.SSLError as err:  # an alert after the handshake: refused
        return CertificateError(f"the coordinator refused this device's certificate: {err}",
                                reason="untrusted")
    except OSError:
        return None  # not reachable: not a refusal
    if answer:
        return None
    return CertificateError("the coordinator closed the connection after the TLS handshake "
                            "without answering: it refuses this device's certificate (not "
                            "issued by the fleet's CA, expired, revoked or absent)",
                            reason="untrusted")


class _Session:
    """Requests with retries, backoff, byte counts and a give-up deadline."""

    def __init__(self, http: Any, url: str, o: _ClientSettings) -> None:
        self.http, self.url = http, url.rstrip("/")
        self.backoff_s, self.backoff_max_s = o.backoff_s, o.backoff_max_s
        self.give_up_after_s, self.request_timeout_s = o.give_up_after_s, o.request_timeout_s
        self.rng = random.Random(o.seed)
        self.server_hostname = o.server_hostname
        self.ssl_context = o.ssl_context
        self.contacted = False  # a request was answered: the certificate is accepted
        self.reconnects = 0
        self.bytes_up = 0
        self.bytes_down = 0

    async def request(self, method: str, path: str, *, data: bytes | None = None,
                      params: Mapping[str, str] | None = None,
                      extra_s: float = 0.0, retry: bool = True) -> tuple[int, bytes]:
        aiohttp = _aiohttp()
        last_contact = time.monotonic()
        failures = 0
        while True:
            try:
                timeout = aiohttp.ClientTimeout(total=self.request_timeout_s + extra_s)
                kw: dict[str, Any] = {"timeout": timeout}
                if self.server_hostname is not None:
                    kw["server_hostname"] = self.server_hostname
                if data is not None:
                    self.bytes_up += len(data)
                async with self.http.request(method, self.url + path, data=data,
                                             params=params, **kw) as resp:
                    body = await resp.read()
                self.bytes_down += len(body)
                self.contacted = True
                if resp.status >= 500:
                    raise aiohttp.ClientResponseError(resp.request_info, (),
                                                      status=resp.status)
                return resp.status, body
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
                refusal = _certificate_refusal(err)
                if refusal is None and not self.contacted and self.ssl_context is not None \
                        and isinstance(err, aiohttp.ServerDisconnectedError):
                    refusal = await asyncio.to_thread(
                        _probe_refusal, self.url, self.ssl_context, self.server_hostname,
                        self.request_timeout_s)
                if refusal is not None:
                    raise refusal from err
                failures += 1
                self.reconnects += 1
                if not retry or time.monotonic() - last_contact > self.give_up_after_s:
                    raise FetchError(f"the coordinator at {self.url} was not reachable for "
                                     f"{self.give_up_after_s:g} s: {err}", url=self.url,
                                     method=method) from err
                cap = min(self.backoff_max_s, self.backoff_s * 2 ** (failures - 1))
                await asyncio.sleep(self.rng.uniform(0, cap))


async def _client_loop(client: Client, url: str, o: _ClientSettings) -> ClientReport:
    """:func:`run_client`'s loop: register, poll, answer, until told training is over."""
    aiohttp = _aiohttp()
    np_rng = np.random.default_rng(o.seed)
    rounds: list[int] = []
    refused: dict[int, str] = {}
    failed: dict[int, str] = {}
    secure: dict[int, Any] = {}  # round -> its SecAggClient, until it has unmasked
    connector = aiohttp.TCPConnector(ssl=o.ssl_context, limit=2)
    async with aiohttp.ClientSession(connector=connector) as http:
        s = _Session(http, url, o)
        status, body = await s.request("POST", f"{proto.API}/register", data=b"")
        if status != 200:
            raise _refused_by_coordinator(status, body)
        import json

        client_id = str(json.loads(body)["client_id"])
        while True:
            status, body = await s.request("GET", f"{proto.API}/task",
                                           params={"wait": f"{o.poll_wait_s:g}"},
                                           extra_s=o.poll_wait_s)
            if status == 410:
                break
            if status == 204:
                continue
            if status != 200:
                raise _refused_by_coordinator(status, body)
            header, payload = proto.unpack_message(body)
            task_id = proto.header_int(header, "task", minimum=1)
            server_round = proto.header_int(header, "round", minimum=1)
            if header.get("type") == proto.EVALUATE:
                up = await _evaluate(client, header, payload, task_id, server_round, s, failed)
            elif header.get("type") == proto.SECAGG:
                stage = proto.header_int(header, "stage", minimum=1)
                agg = secure.get(server_round)
                if agg is None:  # e.g. this client restarted mid-round: it cannot take part
                    continue
                up = proto.pack_message({"task": task_id, "round": server_round,
                                         "secagg": stage}, agg.handle(payload))
                if agg.done:
                    secure.pop(server_round, None)
            else:
                up = await _fit(client, header, payload, task_id, server_round, s, o,
                                secure, client_id, np_rng, failed)
                if server_round not in failed:
                    rounds.append(server_round)
            status, answer = await s.request("POST", f"{proto.API}/result", data=up)
            if status != 200:
                refused[server_round] = _reason(answer)
    return ClientReport(client_id=client_id, rounds=tuple(rounds), refused=refused,
                        failed=failed, bytes_up=s.bytes_up, bytes_down=s.bytes_down,
                        reconnects=s.reconnects)


async def _fit(client: Client, header: dict[str, Any], payload: bytes, task_id: int,
               server_round: int, s: _Session, o: _ClientSettings, secure: dict[int, Any],
               client_id: str, rng: np.random.Generator, failed: dict[int, str]) -> bytes:
    """Train on a fit task (heartbeats going meanwhile) and make the answer: the parameters,
    the codec's update, or this client's first secure-aggregation message."""
    codec, secure_aggregation = o.codec, o.secure_aggregation
    config = proto.header_config(header)
    params, _ = unpack_arrays(payload)
    wanted = header.get("codec")
    if wanted != (None if codec is None else codec.name):
        raise InputError(f"the coordinator takes updates encoded with {wanted!r}, this "
                         f"client has codec {None if codec is None else codec.name!r}",
                         name="codec", expected=wanted)
    hello = header.get("secagg_hello")
    if (hello is None) != (secure_aggregation is None):
        raise InputError("the coordinator aggregates securely and this client has no "
                         "SecAggConfig" if hello is not None else "this client expects "
                         "secure aggregation, the coordinator does not offer it",
                         name="secure_aggregation")
    try:
        result = await _with_heartbeats(s, header, client.fit, params, config)
    except Exception as err:  # the device's training failed: say so, stay in the fleet
        failed[server_round] = f"{type(err).__name__}: {err}"
        return proto.pack_message({"task": task_id, "round": server_round,
                                   "error": failed[server_round]})
    if hello is None:
        return _encode_result(result, params, task_id, server_round, codec, client_id, rng)
    from edgekit.federated.secagg import SecAggClient, update_vector

    if not isinstance(result, FitResult):
        raise InputTypeError("client.fit must return an edgekit.types.FitResult",
                             name="fit", got=type(result).__name__)
    # the client's own check: a masked input cannot be checked by the coordinator
    sent = check_parameters(list(result.parameters), params, client=client_id,
                            server_round=server_round)
    delta = [np.asarray(r, np.float64) - np.asarray(g, np.float64)
             for r, g in zip(sent, params, strict=True)]
    agg = SecAggClient(update_vector(delta, result.num_examples), secure_aggregation)
    try:
        first = agg.handle(base64.b64decode(str(hello), validate=True))
    except ValueError as exc:  # binascii.Error is a ValueError
        raise CorruptDataError(f"undecodable secure-aggregation hello: {exc}",
                               reason="header") from exc
    secure[server_round] = agg
    for old in [r for r in secure if r < server_round]:  # a round that ended without us
        del secure[old]
    header_up = {"task": task_id, "round": server_round, "secagg": 0,
                 "num_examples": int(result.num_examples),
                 "metrics": {k: float(v) for k, v in result.metrics.items()}}
    return proto.pack_message(header_up, first)


async def _with_heartbeats(s: _Session, header: dict[str, Any], fn: Callable[..., Any],
                           *args: Any) -> Any:
    """``fn(*args)`` in a thread, with a heartbeat to the coordinator every period the task
    asks for."""
    beat = _heartbeat_s(header)
    beating = asyncio.create_task(_heartbeats(s, beat)) if beat else None
    try:
        return await asyncio.to_thread(fn, *args)
    finally:
        if beating is not None:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beating


async def _evaluate(client: Client, header: dict[str, Any], payload: bytes, task_id: int,
                    server_round: int, s: _Session, failed: dict[int, str]) -> bytes:
    """Evaluate the task's parameters on this device's data; the answer (or the error)."""
    params, _ = unpack_arrays(payload)
    try:
        res = await _with_heartbeats(s, header, client.evaluate, params,
                                     proto.header_config(header))
        if not isinstance(res, EvaluateResult):
            raise InputTypeError("client.evaluate must return an edgekit.types.EvaluateResult",
                                 name="evaluate", got=type(res).__name__)
        return proto.pack_message({"task": task_id, "round": server_round,
                                   "loss": float(res.loss), "num_examples": res.num_examples,
                                   "metrics": {k: float(v) for k, v in res.metrics.items()}})
    except Exception as err:  # say so, stay in the fleet
        failed.setdefault(server_round, f"evaluate: {type(err).__name__}: {err}")
        return proto.pack_message({"task": task_id, "round": server_round,
                                   "error": f"{type(err).__name__}: {err}"})


def _heartbeat_s(header: dict[str, Any]) -> float | None:
    value = header.get("heartbeat_s")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 3600:
        return float(value)
    return None


async def _heartbeats(s: _Session, every_s: float) -> None:
    """Tell the coordinator this client is alive while it trains (empty bodies)."""
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(FetchError):
            await s.request("POST", f"{proto.API}/heartbeat", data=b"", retry=False)


def _reason(body: bytes) -> str:
    import json

    try:
        return str(json.loads(body).get("reason") or json.loads(body).get("message"))
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")


def _refused_by_coordinator(status: int, body: bytes) -> SecurityError | FetchError:
    if status == 403:
        return CertificateError(f"the coordinator refused this device: {_reason(body)}",
                                reason="untrusted")
    return FetchError(f"unexpected answer {status} from the coordinator: {_reason(body)}")


def _encode_result(result: FitResult, params: Parameters, task_id: int, server_round: int,
                   codec: UpdateCodec | None, client_id: str,
                   rng: np.random.Generator) -> bytes:
    if not isinstance(result, FitResult):
        raise InputTypeError("client.fit must return an edgekit.types.FitResult",
                             name="fit", got=type(result).__name__)
    header: dict[str, Any] = {"task": task_id, "round": server_round,
                              "num_examples": int(result.num_examples),
                              "metrics": {k: float(v) for k, v in result.metrics.items()}}
    arrays = [np.asarray(a) for a in result.parameters]
    if codec is None:
        return proto.pack_message(header, pack_arrays(arrays))
    header["update"] = True
    delta = [(np.asarray(r, np.float64) - np.asarray(s, np.float64)).astype(s.dtype)
             for r, s in zip(arrays, params, strict=False)]
    return proto.pack_message(header, codec.encode(delta, client=client_id, rng=rng))

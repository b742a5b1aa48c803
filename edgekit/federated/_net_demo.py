"""A coordinator or a client of the networked runtime as its own process
(``python -m edgekit.federated._net_demo ROLE --dir DIR ...``), for
tests/federated/test_network.py and tools/federated_network_demo.py.

:func:`make_pki` writes a fleet's certificates as PEM files and :func:`save_fleet` the digits
fleet (made by edgekit.federated._tasks) as arrays into ``DIR``; both roles read them.  The
coordinator writes ``url`` once it listens and ``history.json`` + ``params.npz`` at the end;
a client started with ``--stall-round R`` writes ``stalled-<id>`` when it has received round
R's task and then hangs inside ``fit``; :func:`run_fleet` starts them all, SIGKILLs that
client there and collects the results.  The private keys in ``DIR`` are not encrypted: this
is a demo on 127.0.0.1, not a deployment."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.federated import _tasks
from edgekit.federated.models import SoftmaxClient, softmax_parameters
from edgekit.federated.network import Coordinator, run_client
from edgekit.secure import (
    CertificateAuthority,
    TrustStore,
    certificate_pem,
    client_context,
    create_csr,
    generate_key,
    server_context,
)
from edgekit.secure.keys import private_key_pem


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    path.chmod(0o600)
    return str(path)


def make_pki(directory: Path, client_ids: list[str], *, rogue: tuple[str, ...] = ()) -> Path:
    """``directory/{root.pem, server.pem, server.key, <id>.pem, <id>.key}``; ids in ``rogue``
    get a certificate from another CA with the same name as the root."""
    directory.mkdir(parents=True, exist_ok=True)
    root = CertificateAuthority.create_root("edgekit fl root", organization="edgekit")
    other = CertificateAuthority.create_root("edgekit fl root", organization="edgekit")
    _write(directory / "root.pem", certificate_pem(root.certificate))
    key = generate_key()
    cert = root.issue_server(key.public_key(), dns_names=["localhost"],
                             ip_addresses=["127.0.0.1"])
    _write(directory / "server.pem", certificate_pem(cert))
    _write(directory / "server.key", private_key_pem(key))
    for cid in [*client_ids, *rogue]:
        key = generate_key()
        ca = other if cid in rogue else root
        _write(directory / f"{cid}.pem", certificate_pem(ca.issue_device(create_csr(key, cid))))
        _write(directory / f"{cid}.key", private_key_pem(key))
    return directory


N_CLIENTS = 5
"""The demo fleet: 5 digits clients, Dirichlet(0.5) label skew, partition seed 0."""
_ALPHA, _SEED = 0.5, 0
CLIENT_IDS = [f"c{k}" for k in range(N_CLIENTS)]


def save_fleet(path: Path) -> None:
    """The digits fleet and test set as arrays, so that a child does not import sklearn
    (0.8 s of CPU each on the test machine)."""
    task = _tasks.load_task("digits")
    clients, _init = _tasks.fleet(task, n_clients=N_CLIENTS, alpha=_ALPHA, seed=_SEED)
    arrays = {"x_test": task.x_test, "y_test": task.y_test}
    for cid, c in clients.items():
        arrays[f"x_{cid}"], arrays[f"y_{cid}"] = c.x, c.y
    np.savez(path, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle


def fleet(path: Path):
    """``(task, clients, initial parameters)`` as :func:`_tasks.fleet` makes them."""
    with np.load(path) as z:
        a = {k: z[k] for k in z.files}
    task = _tasks.Task("digits", a["x_test"][:0], a["y_test"][:0], a["x_test"], a["y_test"],
                       10)
    clients = {f"c{k}": SoftmaxClient(a[f"x_c{k}"], a[f"y_c{k}"], n_classes=10,
                                      seed=_SEED + k)
               for k in range(N_CLIENTS)}
    return task, clients, softmax_parameters(task.x_test.shape[1], 10)


def strategy(init):
    return _tasks.make_strategy("fedavg", init, n_clients=N_CLIENTS,
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


class DiesAt:
    """:func:`~edgekit.federated.simulate`'s twin of a killed client: it fails from round
    ``r`` on (the config's ``server_round``)."""

    def __init__(self, client: Any, r: int) -> None:
        self.client, self.r = client, r

    def fit(self, parameters: Any, config: Any) -> Any:
        if int(config["server_round"]) >= self.r:
            raise ConnectionError("killed")
        return self.client.fit(parameters, config)

    def evaluate(self, parameters: Any, config: Any) -> Any:
        return self.client.evaluate(parameters, config)


def coordinator(a: argparse.Namespace) -> None:
    d = Path(a.dir)
    task, _clients, init = fleet(d / "fleet.npz")
    trust = TrustStore.of(d / "root.pem")
    coord = Coordinator(
        strategy(init), ssl_context=server_context(d / "server.pem", d / "server.key", trust),
        trust=trust, rounds=a.rounds, seed=a.seed, fraction=1.0, min_clients=2,
        start_clients=N_CLIENTS, round_timeout_s=a.round_timeout,
        registration_timeout_s=45.0, poll_wait_s=2.0, liveness_s=3.0, heartbeat_s=0.5,
        linger_s=5.0,
        evaluate_fn=_tasks.evaluator(task))
    def ready(url: str) -> None:  # written whole, then renamed: a reader never sees half
        (d / "url.tmp").write_text(url)
        (d / "url.tmp").rename(d / "url")

    history = coord.run(ready)
    np.savez(d / "params.npz", *history.parameters)
    cpu_s = time.process_time()
    rounds = [{"round": r.server_round, "selected": r.selected, "accepted": r.accepted,
               "failures": r.failures, "metrics": r.metrics, "bytes_up": r.bytes_up,
               "bytes_down": r.bytes_down, "aborted": r.aborted,
               "missing": getattr(r, "missing", []), "wall_time_s": r.wall_time_s}
              for r in history.rounds]
    (d / "history.json").write_text(json.dumps({"rounds": rounds, "clients": history.clients,
                                                "wall_time_s": history.wall_time_s,
                                                "cpu_s": cpu_s}))


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
    ctx = client_context(d / f"{a.id}.pem", d / f"{a.id}.key", TrustStore.of(d / "root.pem"))
    report = run_client(me, (d / "url").read_text(), ssl_context=ctx, poll_wait_s=2.0,
                        give_up_after_s=20.0, seed=1)
    (d / f"report-{a.id}.json").write_text(json.dumps(
        {"client_id": report.client_id, "rounds": report.rounds,
         "bytes_up": report.bytes_up, "bytes_down": report.bytes_down}))


def run_fleet(directory: Path, *, rounds: int, seed: int, kill_round: int = 0,
              victim: str = "c2", timeout_s: float = 50.0,
              env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Start the coordinator and every client of :data:`CLIENT_IDS` as processes over
    ``directory`` (made by :func:`make_pki` and :func:`save_fleet`); with ``kill_round``,
    SIGKILL ``victim`` inside its ``fit`` of that round.  Returns ``{"history", "params",
    "reports", "wall_s"}`` once the coordinator is done; raises RuntimeError when a process
    fails or ``timeout_s`` passes (every process is stopped either way)."""
    d = Path(directory)
    deadline = time.monotonic() + timeout_s
    t0 = time.perf_counter()

    def spawn(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "edgekit.federated._net_demo", *args,
                                 "--dir", str(d)], env=None if env is None else dict(env),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def failed(p: subprocess.Popen[bytes], what: str) -> RuntimeError:
        out = p.stdout.read().decode(errors="replace") if p.stdout else ""
        return RuntimeError(f"{what} (exit {p.returncode}): {out[-3000:]}")

    ids = CLIENT_IDS
    coord = spawn("coordinator", "--rounds", str(rounds), "--seed", str(seed))
    procs = {"coordinator": coord}
    try:
        for cid in ids:
            stall = ["--stall-round", str(kill_round)] if kill_round and cid == victim else []
            procs[cid] = spawn("client", "--id", cid, *stall)
        if kill_round:
            while not (d / f"stalled-{victim}").exists():
                for name, p in procs.items():
                    if p.poll() is not None:
                        raise failed(p, f"{name} stopped before the kill")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{victim} did not reach round {kill_round} in time")
                time.sleep(0.05)
            procs[victim].send_signal(signal.SIGKILL)  # inside fit, holding its task
            procs[victim].wait(10)
        try:
            coord.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise RuntimeError("the coordinator did not finish in time") from None
        if coord.returncode != 0:
            raise failed(coord, "the coordinator failed")
        for cid in ids:
            if not (kill_round and cid == victim) and procs[cid].wait(10) != 0:
                raise failed(procs[cid], f"client {cid} failed")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(5)
            if p.stdout is not None:
                p.stdout.close()
    return {"history": json.loads((d / "history.json").read_text()),
            "params": list(np.load(d / "params.npz").values()),
            "reports": {cid: json.loads((d / f"report-{cid}.json").read_text())
                        for cid in ids if (d / f"report-{cid}.json").exists()},
            "wall_s": time.perf_counter() - t0}


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

"""Write the example notebooks in ``examples/`` from the cell sources below.

The notebooks are code: they are generated here, reviewed here, and committed without
outputs.  ``tests/test_notebooks.py`` executes them (and saves their plots);
``tests/test_docs.py`` checks that the committed notebooks are what this script writes.

    python tools/make_notebooks.py            # (re)write examples/*.ipynb
    python tools/make_notebooks.py --check    # exit 1 if a committed notebook is stale
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# every notebook starts with this: inline PNG figures (what the CI runner saves), a size
# that reads well on GitHub, and the installation's facts (backend, runtimes)
SETUP = """\
%matplotlib inline
%config InlineBackend.figure_formats = ["png"]
import matplotlib.pyplot as plt
import numpy as np

import edgekit

plt.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False})
edgekit.show_config()"""


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(textwrap.dedent(text).strip("\n"))


NOTEBOOKS: dict[str, list] = {}
# written here but not yet in examples/: their subsystem is not on main yet
PENDING: set[str] = set()


def notebook(name: str):
    def register(fn):
        NOTEBOOKS[name] = fn
        return fn
    return register


# --------------------------------------------------------------------------------------
@notebook("00_end_to_end")
def _end_to_end() -> list:
    return [
        md("""
        # One gateway, end to end

        A day in the life of an edge gateway, built only from edgekit's public API and run for
        real in this notebook:

        1. a device gets a certificate from the fleet CA (its key never leaves it), opens a
           mutual-TLS 1.3 connection to the gateway on 127.0.0.1, and the two agree on
           session keys for the authenticated envelope inside it;
        2. the device sends a day of real weather readings (Payerne, one a minute), an hour
           per message: compressed with `edgekit.compress`, sealed with the envelope;
        3. the gateway opens, decodes and stores them in a `ReadingStore` (compressed
           segments);
        4. a camera frame goes through face detection;
        5. the inference work of 40 camera streams is placed on four worker nodes;
        6. and Prometheus sees all of it through `edgekit.metrics`.
        """),
        code(SETUP),
        code("""
        import socket
        import threading
        from importlib import resources

        from cryptography.hazmat.primitives.asymmetric import x25519
        from prometheus_client import CollectorRegistry, generate_latest

        from edgekit.compress import decode_series, encode_series
        from edgekit.data import load_series
        from edgekit.infer import FACE_MODEL, Detector, load_image
        from edgekit.memory import ReadingStore
        from edgekit.metrics import enable_metrics
        from edgekit.schedule import place_batch, utilization
        from edgekit.secure import (
            CertificateAuthority,
            TrustStore,
            accept,
            client_context,
            connect,
            create_csr,
            generate_key,
            server_context,
            session,
        )

        registry = CollectorRegistry()
        metrics = enable_metrics(registry, required=True)   # every event below is counted
        """),
        md("""
        ## 1. Identity and a channel

        The X25519 public keys of the envelope session travel inside the mutual-TLS
        connection, so each side knows whose key it got.
        """),
        code("""
        root = CertificateAuthority.create_root("fleet root")
        site = root.create_intermediate("site-1")
        dev_key = generate_key()
        dev_cert = site.issue_device(create_csr(dev_key, "weather-7"))
        gw_key = generate_key()
        gw_cert = site.issue_server(gw_key.public_key(), dns_names=["localhost"],
                                    ip_addresses=["127.0.0.1"])
        trust = TrustStore((root.certificate,), intermediates=(site.certificate,))

        gw_x, dev_x = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()

        def raw(public_key):
            return public_key.public_bytes_raw()                 # 32 bytes

        listener = socket.create_server(("127.0.0.1", 0))
        gw_side = {}

        def gateway():
            tls, ident = accept(listener, server_context(gw_cert, gw_key, trust,
                                                         chain=[site.certificate]), trust)
            with tls:
                peer_x = tls.recv(32)
                tls.sendall(raw(gw_x.public_key()))
            gw_side["device"] = ident.device_id
            gw_side["keys"] = session(gw_x, peer_x, context=ident.device_id.encode())
            listener.close()

        th = threading.Thread(target=gateway)
        th.start()
        tls, gw_ident = connect(listener.getsockname(),
                                client_context(dev_cert, dev_key, root.certificate,
                                               chain=[site.certificate]),
                                trust, server_hostname="localhost")
        with tls:
            tls.sendall(raw(dev_x.public_key()))
            gw_x_pub = tls.recv(32)
        th.join(10)
        dev_seal, _ = session(dev_x, gw_x_pub, context=b"weather-7")
        _, gw_open = gw_side["keys"]
        print(f"gateway verified the device as {gw_side['device']!r}; the device verified "
              f"{gw_ident.dns_names[0]!r}; envelope keys agreed over TLS 1.3")
        """),
        md("""
        ## 2-3. A day of readings: device -> gateway -> store
        """),
        code("""
        temp = load_series("payerne_temp_C")[:1440]           # degC, one a minute
        pres = load_series("payerne_pressure_hPa")[:1440]     # hPa
        t = 1_464_739_200 * 10**9 + np.arange(1440, dtype=np.int64) * 60 * 10**9   # 2016-06-01

        wire = []                                            # device side: an hour a message
        for h in range(24):
            sl = slice(60 * h, 60 * h + 60)
            for ch, series in ((0, temp), (1, pres)):
                msg = encode_series(t[sl], series[sl])
                wire.append((ch, dev_seal.seal(msg, associated_data=b"ch%d" % ch), len(msg)))

        store = ReadingStore(segment_size=512)              # gateway side
        for ch, env, _ in wire:
            ts, vals = decode_series(gw_open.open(env, associated_data=b"ch%d" % ch))
            store.extend(ts, vals, channels=ch)
        store.seal()

        n = 2 * 1440
        stages = {                  # bytes for the day, both channels
            "raw": n * 16,            # float64 value + int64 timestamp
            "compressed": sum(c for _, _, c in wire),           # encode_series
            "sealed": sum(len(e) for _, e, _ in wire),          # + 28 B per envelope
            "stored": store.nbytes,                             # ReadingStore, sealed
        }
        for k, b in stages.items():
            print(f"{k:<12} {b:>7,} B  ({b / n:6.2f} B/reading)")
        day_t, day_temp, _ = store.query(channel=0)
        _, day_pres, _ = store.query(channel=1)
        assert np.array_equal(day_t, t) and np.allclose(day_temp, temp, atol=1e-5)
        """),
        md("""
        ## 4-5. A camera frame, and where the inference work runs
        """),
        code("""
        with resources.as_file(resources.files("edgekit.data") / "images" / "astronaut.png") as p:
            frame = load_image(p)
        with Detector.from_file(FACE_MODEL) as det:
            det.detect(frame)                                # the first call warms up
            faces = det.detect(frame)
            timing = det.last_timings
        print(f"{len(faces)} face(s), detect {1e3 * timing.total_s:.2f} ms (warm)")

        workers = np.array([[4, 8], [4, 8], [8, 16], [16, 32]], float)    # cores, GiB
        rng = np.random.default_rng(3)
        streams = np.column_stack([rng.choice([0.25, 0.5, 1.0, 2.0], 40),   # cores per stream
                                   rng.choice([0.25, 0.5, 1.0], 40)])        # GiB per stream
        where = place_batch(streams, workers)
        print(f"{int((where >= 0).sum())}/40 streams placed, utilization "  # -1: not placed
              f"{utilization(where, streams, workers):.2f}")
        """),
        code("""
        fig = plt.figure(figsize=(13, 8.5))
        gs = fig.add_gridspec(2, 3, width_ratios=[1.3, 1, 1])
        a0 = fig.add_subplot(gs[0, 0:2])
        hours = (day_t - day_t[0]) / 3.6e12
        a0.plot(hours, day_temp, color="#d62728", label="air temperature")
        a0.set_xlabel("hour of 2016-06-01 (UTC)")
        a0.set_ylabel("temperature (degC)", color="#d62728")
        a0b = a0.twinx()
        a0b.plot(hours, day_pres, color="#1f77b4", label="pressure")
        a0b.set_ylabel("pressure (hPa)", color="#1f77b4")
        a0b.grid(False)
        a0.set_title("Payerne, as stored by the gateway (queried back from the ReadingStore)")
        a1 = fig.add_subplot(gs[0, 2])
        bars = a1.bar(range(len(stages)), list(stages.values()),
                      color=["#999999", "#ff7f0e", "#9467bd", "#d62728"])
        for b, v in zip(bars, stages.values(), strict=True):
            a1.text(b.get_x() + b.get_width() / 2, v * 1.08, f"{v / n:.2f}\\nB/reading",
                    ha="center", fontsize=8)
        a1.set_xticks(range(len(stages)), list(stages), fontsize=8)
        a1.set_yscale("log")
        a1.set_ylim(1e3, 2e5)
        a1.set_ylabel("bytes for the day, 2 channels (log)")
        a1.set_title("The day's 2,880 readings along the way", fontsize=10)
        a2 = fig.add_subplot(gs[1, 0])
        a2.imshow(frame)
        for f in faces:
            b = f.bounding_box
            a2.add_patch(plt.Rectangle((b.origin_x, b.origin_y), b.width, b.height,
                                       fill=False, ec="lime", lw=2))
            a2.plot([k.x for k in f.keypoints], [k.y for k in f.keypoints], "o", ms=3,
                    color="yellow")
        a2.set_title(f"camera frame: {len(faces)} face, {1e3 * timing.total_s:.2f} ms",
                     fontsize=10)
        a2.set_xlabel("x (px)")
        a2.set_ylabel("y (px)")
        a2.grid(False)
        a3 = fig.add_subplot(gs[1, 1:3])
        used = np.zeros_like(workers)
        np.add.at(used, where[where >= 0], streams[where >= 0])
        x = np.arange(len(workers))
        a3.bar(x - 0.2, used[:, 0] / workers[:, 0], 0.4, label="cores")
        a3.bar(x + 0.2, used[:, 1] / workers[:, 1], 0.4, label="memory")
        a3.set_xticks(x, [f"worker {i}\\n{c:g} cores, {m:g} GiB"
                          for i, (c, m) in enumerate(workers)])
        a3.set_ylabel("fraction of the worker in use")
        a3.set_ylim(0, 1.1)
        a3.set_title(f"40 inference streams placed: {int((where >= 0).sum())} running, "
                     f"{int((where < 0).sum())} not placed (cores are full)", fontsize=10)
        a3.legend(fontsize=8)
        fig.tight_layout()
        plt.show()
        """),
        md("""
        ## 6. What Prometheus sees

        Every operation above reported one telemetry event; `edgekit.metrics` turned them into
        Prometheus instruments on this notebook's registry.
        """),
        code("""
        text = generate_latest(registry).decode()
        events = {}
        for line in text.splitlines():
            if line.startswith("edgekit_events_total{"):
                name = line.split('event="')[1].split('"')[0]
                events[name] = float(line.rsplit(" ", 1)[1])
        for line in text.splitlines():
            if line.startswith(("edgekit_secure_bytes_total", "edgekit_memory_sealed",
                                "edgekit_compress_input_bytes_total")) and \\
                    "_created" not in line:
                print(line)
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(events) + 1.2))
        names = sorted(events, key=events.get)
        ax.barh(names, [events[k] for k in names], color="#1f77b4")
        ax.set_xscale("log")
        ax.set_xlabel("events (edgekit_events_total, log)")
        ax.set_title("edgekit telemetry during this notebook, per event")
        fig.tight_layout()
        plt.show()
        metrics.close()
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("01_compress")
def _compress() -> list:
    return [
        md("""
        # Compressing real sensor series

        The article compressed sensor data with `zlib` of `np.diff`, claimed "6.8:1 on a
        temperature dataset" and "99.2 % reconstruction accuracy", and decoded with a float32
        `np.cumsum`.  `edgekit.compress.encode` is lossless bit for bit (or error-bounded with
        `tolerance=`), self-describing and checksummed.

        This notebook runs every codec on the eight real series shipped in `edgekit.data`
        (weather at Payerne, CO2 at Mauna Loa, an ECG, a river, a neuron), and shows the ratio
        of each and what comes back.
        """),
        code(SETUP),
        code("""
        import zlib

        from edgekit.compress import decode, encode
        from edgekit.compress.article import article_compress, article_decompress
        from edgekit.data import list_series, load_series, series_info

        series = {name: load_series(name) for name in list_series()}
        for name, x in series.items():
            info = series_info(name)
            print(f"{name:<24} {x.size:>6} values, {info['units']}, every {info['interval']}")
        """),
        md("""
        ## The codecs

        * **edgekit**: `encode(x)` / `decode(blob)`, lossless;
        * **article**: `zlib.compress(np.diff(x, prepend=x[0]))` at level 6, with the first value
          stored so that it can be decoded at all (`edgekit.compress.article`), decoded by float64
          `np.cumsum`;
        * generic peers on the raw float64 bytes: zlib-6 and zstd-3; blosc2 (bitshuffle + zstd,
          one thread); and **pcodec**, the strongest numeric peer.  Each peer is used only if it
          is installed (`pip install 'edgekit[bench]'`).
        """),
        code("""
        def _optional():
            peers = {}
            try:
                import zstandard
                zc, zd = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()
                peers["zstd-3"] = (lambda x: zc.compress(x.tobytes()),
                                   lambda b: np.frombuffer(zd.decompress(b), np.float64))
            except ImportError:
                pass
            try:
                import blosc2
                blosc2.set_nthreads(1)
                peers["blosc2 bitshuffle+zstd"] = (
                    lambda x: blosc2.compress2(x, codec=blosc2.Codec.ZSTD, clevel=5,
                                               filters=[blosc2.Filter.BITSHUFFLE], typesize=8),
                    lambda b: np.frombuffer(blosc2.decompress2(b), np.float64))
            except ImportError:
                pass
            try:
                import pcodec
                peers["pcodec"] = (
                    lambda x: pcodec.standalone.simple_compress(x, pcodec.ChunkConfig()),
                    pcodec.standalone.simple_decompress)
            except ImportError:
                pass
            return peers

        codecs = {
            "edgekit": (encode, decode),
            "article (diff+zlib-6)": (article_compress, article_decompress),
            "zlib-6": (lambda x: zlib.compress(x.tobytes(), 6),
                       lambda b: np.frombuffer(zlib.decompress(b), np.float64)),
            **_optional(),
        }
        ratio, max_err, exact = {}, {}, {}
        for c, (enc, dec) in codecs.items():
            for name, x in series.items():
                blob = enc(x)
                back = dec(blob)
                ratio[c, name] = x.nbytes / len(blob)
                max_err[c, name] = float(np.max(np.abs(back - x)))
                exact[c, name] = back.tobytes() == x.tobytes()

        def gmean(v):
            return float(np.exp(np.mean(np.log(v))))

        print(f"{'codec':<24}{'geo. mean ratio':>16}  bit-exact on")
        for c in codecs:
            r = gmean([ratio[c, n] for n in series])
            print(f"{c:<24}{r:>15.1f}:1  {sum(exact[c, n] for n in series)}/{len(series)} series")
        """),
        code("""
        names = list(series) + ["geometric mean"]
        palette = ["#d62728", "#ff7f0e", "#7f7f7f", "#bcbd22", "#17becf", "#1f77b4", "#9467bd"]
        fig, ax = plt.subplots(figsize=(10, 6.5))
        h = 0.8 / len(codecs)
        y = np.arange(len(names))
        for i, c in enumerate(codecs):
            vals = [ratio[c, n] for n in series] + [gmean([ratio[c, n] for n in series])]
            ax.barh(y + (i - (len(codecs) - 1) / 2) * h, vals, h, label=c,
                    color=palette[i % len(palette)],
                    hatch="//" if c.startswith("article") else None)
        ax.axvline(6.8, color="k", ls=":", lw=1.5, label="the article's claim, 6.8:1")
        ax.set_xscale("log")
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlabel("compression ratio (float64 bytes / compressed bytes, log scale)")
        ax.set_title("Lossless compression of 8 real sensor series")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        plt.show()
        """),
        md("""
        ## What comes back

        Ratios only mean something for the same output.  The article's decoder is a float
        cumulative sum, which drifts; and its code *as published* has two more faults: the first
        value is never stored (`prepend=data[0]` makes the first difference 0), and the bytes of
        float64 differences are read back as float32.  Maximum absolute error of each round trip,
        in the series' own units (log scale; a round trip that gives back every bit is drawn on
        the "bit-exact" line).
        """),
        code("""
        def article_as_published(x):
            blob = zlib.compress(np.diff(x, prepend=x[0]).tobytes(), 6)
            return np.cumsum(np.frombuffer(zlib.decompress(blob), dtype=np.float32))

        x = series["payerne_temp_C"]
        lit = article_as_published(x)
        print(f"as published, payerne_temp_C: {x.size} values in, {lit.size} float32 values out")
        print("first five in: ", x[:5])
        print("first five out:", lit[:5])

        rows = dict(max_err)
        for n, s in series.items():
            out = article_as_published(s)[:s.size].astype(np.float64)
            with np.errstate(invalid="ignore", over="ignore"):
                err = np.abs(out - s)
            rows["article as published", n] = float(np.nanmax(np.where(np.isfinite(err), err,
                                                                       np.nan)))
        order = ["article as published"] + list(codecs)
        FLOOR = 1e-18
        fig, ax = plt.subplots(figsize=(10, 4.8))
        for j, n in enumerate(series):
            ys = [max(rows[c, n], FLOOR) if not exact.get((c, n), False) else FLOOR
                  for c in order]
            ax.scatter(np.arange(len(order)) + (j - 3.5) * 0.06, ys, s=28, label=n,
                       color=plt.cm.tab10(j))
        ax.set_yscale("log")
        ax.axhline(FLOOR, color="C2", lw=8, alpha=0.25)
        ax.text(len(order) - 0.5, FLOOR * 3, "bit-exact (error 0)", color="C2", ha="right")
        ax.set_xticks(range(len(order)), [o.replace(" (", "\\n(") for o in order], fontsize=8)
        ax.set_ylim(FLOOR / 10, None)
        ax.set_ylabel("max |decoded - original| (series units, log)")
        ax.set_title("Round-trip error per codec and series")
        ax.legend(fontsize=7, ncol=2, loc="upper right")
        fig.tight_layout()
        plt.show()
        """),
        md("""
        ## Error-bounded mode

        When the sensor is noisier than its resolution, `encode(x, tolerance=eps)` lets every
        value move by at most `eps` (NaN and infinities stay exact) and buys ratio with it.
        The bound is checked here on every value.  Two series: the ECG (recorded to 0.005 mV)
        and Payerne's air temperature (recorded to 0.1 degC).
        """),
        code("""
        cases = {"ecg_mitdb_mV": ("mV", [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]),
                 "payerne_temp_C": ("degC", [0.02, 0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 1.0, 2.0])}
        lossy = {}
        for name, (unit, tols) in cases.items():
            x = series[name]
            rs, es = [], []
            for eps in tols:
                blob = encode(x, tolerance=eps)
                err = float(np.max(np.abs(decode(blob) - x)))
                assert err <= eps, (name, eps, err)
                rs.append(x.nbytes / len(blob))
                es.append(err)
            lossy[name] = (unit, tols, rs, es)
            print(name, "  ".join(f"{e:g} {unit}: {r:.0f}:1"
                                  for e, r in zip(tols, rs, strict=True)))

        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, (name, (unit, tols, rs, es)) in zip(axes, lossy.items(), strict=True):
            ax.plot(tols, rs, "o-", color="#d62728", label="edgekit, tolerance = eps")
            ax.axhline(ratio["edgekit", name], color="#d62728", ls="--", label="edgekit lossless")
            ax.axhline(ratio["article (diff+zlib-6)", name], color="#ff7f0e", ls=":",
                       label="article's method")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(f"tolerance eps ({unit}, log)")
            ax.set_ylabel("compression ratio (log)")
            worst = max(e / t for e, t in zip(es, tols, strict=True))
            ax.set_title(f"{name}: max error <= eps everywhere (worst {worst:.2f} eps)",
                         fontsize=10)
            ax.legend(fontsize=8)
        fig.tight_layout()
        plt.show()
        """),
        md("""
        What the curves say: below about half the recording resolution a tolerance buys
        nothing (the values already sit on their decimal grid, which the lossless coder uses);
        above it the ratio climbs steeply.  But not monotonically: on the temperature series
        0.25 degC gives about 76:1 while 0.2 and 0.3 degC give the lossless frame (26:1).  The
        error-bounded grid is one candidate (step `2 eps`) tried against the lossless coders;
        with a step of 0.4 or 0.6 degC, values on the 0.1 degC grid fall exactly on the bound,
        where float rounding can put them just outside it, and the candidate loses.  Choose a
        tolerance a little off a multiple of half the resolution.
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("02_schedule")
def _schedule() -> list:
    return [
        md("""
        # Placing tasks on a 10-node edge cluster

        The article's `EdgeScheduler` sorts nodes by `cpu_free/cpu_req + mem_free/mem_req` and
        puts each task on the node with the *most* free room, and claims
        "+37 % resource utilization over random allocation on a 10-node cluster".

        Here the same 10 heterogeneous nodes (4 to 32 cores, 8 to 64 GiB) receive seeded
        streams of real-looking task mixes at increasing load, and every policy is held
        against the optimum computed by a MILP solver (HiGHS, through scipy).  *Utilization* is
        the share of the cluster that placed tasks use (each task's share of cores and memory,
        averaged), so 1.0 is a perfectly full cluster; *acceptance* is the fraction of tasks
        placed at all.
        """),
        code(SETUP),
        code("""
        from edgekit.schedule import (
            EDGE_CLUSTER_10,
            optimal_placement,
            place_batch,
            utilization,
            workload,
        )
        from edgekit.schedule._article import run_article  # the article's code, verbatim

        cap = EDGE_CLUSTER_10                                   # (nodes, [cores, GiB])
        print(f"{cap.shape[0]} nodes, {cap[:, 0].sum():g} cores, {cap[:, 1].sum():g} GiB")

        def article(d):
            return np.array([-1 if j is None else j for j in run_article(d, cap)])

        policies = {
            "article (spread, online)": article,
            "random feasible (online)": lambda d: place_batch(d, cap, policy="random"),
            "best fit (online)": lambda d: place_batch(d, cap, policy="best_fit"),
            "edgekit default (online)": lambda d: place_batch(d, cap),
            "edgekit default (batch)": lambda d: place_batch(d, cap, mode="batch",
                                                             time_budget_s=0.1),
        }
        loads = [0.6, 0.8, 1.0, 1.2, 1.5]
        util = {p: [] for p in policies}
        accept = {p: [] for p in policies}
        opt, bound = [], []
        for load in loads:
            d = workload("mix", load, cap, seed=1)
            for p, fn in policies.items():
                a = fn(d)
                util[p].append(utilization(a, d, cap))
                accept[p].append(float(np.mean(a >= 0)))
            o = optimal_placement(d, cap, time_limit_s=0.4, mip_rel_gap=1e-3)
            opt.append(o.objective)
            bound.append(o.bound)
            print(f"load {load}: {d.shape[0]} tasks; MILP in {o.seconds:.2f} s: best found "
                  f"{o.objective:.3f}, proven bound {o.bound:.3f}; edgekit batch "
                  f"{util['edgekit default (batch)'][-1]:.3f}")
        """),
        code("""
        styles = {"article (spread, online)": ("C1", "s--"),
                  "random feasible (online)": ("C7", "x:"),
                  "best fit (online)": ("C0", "^-"), "edgekit default (online)": ("C3", "o-"),
                  "edgekit default (batch)": ("C3", "D-")}
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.5))
        best = np.max([opt] + [util[p] for p in policies], axis=0)   # best placement known
        a0.fill_between(loads, best, bound, color="k", alpha=0.15,
                        label="the optimum lies here (best known .. MILP bound)")
        a0.plot(loads, bound, "k-", lw=2, label="MILP upper bound (HiGHS, 0.4 s)")
        a0.set_ylim(0.55, 1.03)
        for p in policies:
            c, st = styles[p]
            a0.plot(loads, util[p], st, color=c, label=p,
                    mfc="white" if "batch" in p else None)
            a1.plot(loads, accept[p], st, color=c, label=p,
                    mfc="white" if "batch" in p else None)
        a0.set_xlabel("offered load (total task share / cluster)")
        a0.set_ylabel("utilization (share of cluster used)")
        a0.set_title("Utilization against the optimum")
        h, lab = a0.get_legend_handles_labels()
        a0.legend(h[:2], lab[:2], fontsize=8, loc="upper left")
        a1.legend(fontsize=8, loc="lower left")
        a1.set_xlabel("offered load (total task share / cluster)")
        a1.set_ylabel("acceptance (tasks placed / offered)")
        a1.set_title("Acceptance (the MILP maximizes utilization, not count)")
        a1.set_ylim(None, 1.02)
        fig.tight_layout()
        plt.show()
        """),
        md("""
        ## Why: where each policy puts the tasks

        At load 1.0, the share of cores and of memory used on each node.  The article's score
        *adds* the two free ratios, so a node rich in one resource looks roomy even when the
        other is exhausted: nodes end full in one dimension and idle in the other, and the
        tasks that arrive later are refused.  edgekit's default keeps the two in step
        (Kubernetes' `balanced_allocation` score).  Once the stream has asked for more than
        the whole cluster (the loads above 1.0), it chooses among the nodes that an LP plan
        of the free capacity, learned from the tasks seen so far, keeps for tasks of that
        shape (and on this stream of cpu-heavy and mem-heavy tasks, the node whose sampled
        futures place the most); before that it is `balanced_allocation` alone, because on
        workloads it was not tuned on the plan's stages did harm there (last section).
        """),
        code("""
        d = workload("mix", 1.0, cap, seed=1)
        shown = ["article (spread, online)", "edgekit default (online)"]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
        x = np.arange(cap.shape[0])
        for ax, p in zip(axes, shown, strict=True):
            a = policies[p](d)
            used = np.zeros_like(cap)
            np.add.at(used, a[a >= 0], d[a >= 0])
            ax.bar(x - 0.2, used[:, 0] / cap[:, 0], 0.4, label="cores used / node cores")
            ax.bar(x + 0.2, used[:, 1] / cap[:, 1], 0.4, label="memory used / node memory")
            ax.set_xticks(x, [f"{c:g}c\\n{m:g}G" for c, m in cap])
            ax.set_xlabel("node (cores, GiB)")
            ax.set_title(f"{p}: {int((a < 0).sum())} of {len(a)} tasks refused, "
                         f"utilization {utilization(a, d, cap):.2f}", fontsize=10)
        axes[0].set_ylabel("fraction of the node in use")
        axes[0].legend(fontsize=8, loc="lower left")
        fig.tight_layout()
        plt.show()
        u_art, u_rand = util["article (spread, online)"], util["random feasible (online)"]
        for load, a, r in zip(loads, u_art, u_rand, strict=True):
            print(f"load {load}: article vs random utilization {100 * (a / r - 1):+.1f}% "
                  f"(the article claims +37%)")
        """),
        md("""
        ## On workloads it was not tuned on

        A default is trusted only if it never loses to the scorer people already run
        (Kubernetes' BalancedAllocation).  `edgekit.schedule.families` draws workload
        families (demand distributions, arrival orders, cluster shapes); 12 of them, with
        seeds 1000-1019, were set aside by a seeded draw before any result was looked at,
        and no tuning decision looked at them.  Mean gap to the best placement known over
        the 20 seeds of each cell (docs/schedule.md also has the bounds); `planned` is the
        default before this check (the LP plan's stages from the first tasks on), now
        opt-in; the default runs them only once the stream has asked for more than the
        whole cluster.  `python tools/schedule_families.py --set held-out` rebuilds it
        (docs/schedule.md, "Held-out families").

        | family | load | default | BalancedAllocation | strand | auto | planned | batch |
        | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |
        | anticorrelated/bursts/homog10 | 1.0 | 2.93% | 2.93% | 3.67% | 2.99% | 3.45% | 0.00% |
        | anticorrelated/bursts/homog10 | 1.5 | 3.46% | 3.46% | 2.84% | 3.46% | 3.84% | 0.00% |
        | correlated/sorted_asc/edge10 | 1.0 | 12.40% | 12.40% | 12.40% | 12.40% | 12.20% | 0.04% |
        | correlated/sorted_asc/edge10 | 1.5 | 9.43% | 9.43% | 9.43% | 9.43% | 9.12% | 0.00% |
        | lognormal/sorted_asc/small40 | 1.0 | 6.60% | 6.60% | 6.84% | 6.60% | 7.95% | 0.00% |
        | lognormal/sorted_asc/small40 | 1.5 | 2.73% | 2.73% | 2.66% | 2.73% | 3.39% | 0.05% |
        | vm_catalogue/sorted_asc/homog10 | 1.0 | 16.41% | 16.41% | 16.35% | 16.41% | 18.62% | 0.12%
        | vm_catalogue/sorted_asc/homog10 | 1.5 | 10.50% | 10.50% | 10.25% | 10.50% | 11.60% | 0.19%
        | lognormal/bursts/edge10 | 1.0 | 1.47% | 1.47% | 1.50% | 1.47% | 1.63% | 0.05% |
        | lognormal/bursts/edge10 | 1.5 | 2.72% | 2.72% | 0.52% | 2.70% | 1.86% | 0.00% |
        | vm_catalogue/bursts/small40 | 1.0 | 6.04% | 6.04% | 6.06% | 6.04% | 2.18% | 0.00% |
        | vm_catalogue/bursts/small40 | 1.5 | 5.86% | 5.85% | 5.68% | 5.74% | 5.80% | 0.00% |
        | bimodal/sorted_asc/homog10 | 1.0 | 7.06% | 7.06% | 5.79% | 7.06% | 6.31% | 0.00% |
        | bimodal/sorted_asc/homog10 | 1.5 | 16.38% | 16.38% | 5.10% | 16.38% | 13.42% | 0.00% |
        | correlated/sorted_desc/edge10 | 1.0 | 2.80% | 2.80% | 2.80% | 2.80% | 2.28% | 0.19% |
        | correlated/sorted_desc/edge10 | 1.5 | 3.91% | 3.91% | 3.91% | 3.91% | 3.75% | 0.01% |
        | lognormal/sorted_desc/homog10 | 1.0 | 1.51% | 1.51% | 1.76% | 1.52% | 0.69% | 0.01% |
        | lognormal/sorted_desc/homog10 | 1.5 | 3.43% | 3.43% | 0.25% | 3.43% | 2.41% | 0.00% |
        | pareto/random/small40 | 1.0 | 2.63% | 2.63% | 3.06% | 2.63% | 15.00% | 0.00% |
        | pareto/random/small40 | 1.5 | 0.94% | 0.92% | 0.54% | 0.79% | 0.15% | 0.75% |
        | bimodal/sorted_desc/homog10 | 1.0 | 6.12% | 6.12% | 2.27% | 6.12% | 5.49% | 0.00% |
        | bimodal/sorted_desc/homog10 | 1.5 | 17.24% | 17.24% | 16.27% | 17.24% | 20.22% | 0.00% |
        | correlated/random/homog10 | 1.0 | 2.29% | 2.29% | 2.29% | 2.29% | 2.93% | 0.00% |
        | correlated/random/homog10 | 1.5 | 1.67% | 1.70% | 1.67% | 1.67% | 1.61% | 0.00% |
        | **mean over cells** | | **6.11%** | **6.11%** | **5.16%** | **6.10%** | 6.50% | 0.06% |
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("03_infer")
def _infer() -> list:
    return [
        md("""
        # Face detection on a bare TFLite runtime

        The article ran MobileNet-SSD through TensorFlow Lite but prepared the image with full
        TensorFlow (`tf.io`, `tf.image`), which a gateway with only the TFLite runtime does not
        have, and left post-processing out ("post-processing ...").  `edgekit.infer` does the
        letterbox, normalisation, box decoding and non-maximum suppression itself (C kernels
        with numpy references) around LiteRT.

        Here: the BlazeFace short-range model shipped with edgekit, on the shipped
        `astronaut.png` (512 x 512, public domain), what the model sees, what comes back, and
        what each stage costs on this machine.
        """),
        code(SETUP),
        code("""
        import statistics
        from importlib import resources

        from edgekit.infer import FACE_MODEL, Detector, load_image, preprocess

        with resources.as_file(resources.files("edgekit.data") / "images" / "astronaut.png") as p:
            image = load_image(p)                       # H x W x 3 uint8 RGB
        det = Detector.from_file(FACE_MODEL)           # recognised by its SHA-256: no options
        faces = det.detect(image)
        print(f"{det.name} on {det.model.runtime}, input {det.model.inputs[0].shape}")
        for f in faces:
            b = f.bounding_box
            print(f"face score {f.categories[0].score:.3f}: x {b.origin_x:.1f} y {b.origin_y:.1f}"
                  f" w {b.width:.1f} h {b.height:.1f} px")
            for k in f.keypoints:
                print(f"   {k.label:<18} ({k.x:6.1f}, {k.y:6.1f}) px")
        """),
        md("""
        ## What the model sees, and what comes back

        Left: the 128 x 128 float input tensor, made by `preprocess` in one C pass (letterbox,
        bilinear resize, scale to [-1, 1]; shown mapped back to [0, 1]).  Right: the
        detection, mapped back through the letterbox into pixels of the original image.
        """),
        code("""
        model_in = np.empty((128, 128, 3), np.float32)
        lb = preprocess(image, model_in, value_range=(-1.0, 1.0))

        fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 5.2),
                                     gridspec_kw={"width_ratios": [1, 1.6]})
        a0.imshow((model_in + 1) / 2, extent=(0, 128, 128, 0))
        a0.set_title(f"model input 128x128 (scale {lb.scale_x:.3f} model px per image px)")
        a0.set_xlabel("model x (px)")
        a0.set_ylabel("model y (px)")
        a0.grid(False)
        a1.imshow(image)
        colors = plt.cm.tab10.colors
        for f in faces:
            b = f.bounding_box
            a1.add_patch(plt.Rectangle((b.origin_x, b.origin_y), b.width, b.height, fill=False,
                                       lw=2, ec="lime"))
            a1.text(b.origin_x, b.origin_y - 6, f"face {f.categories[0].score:.2f}",
                    color="lime", fontsize=10, fontweight="bold")
            for i, k in enumerate(f.keypoints):
                a1.plot(k.x, k.y, "o", ms=6, mec="k", color=colors[i], label=k.label)
        a1.set_xlim(120, 330)
        a1.set_ylim(220, 30)
        a1.set_title("BlazeFace detection (zoom on the face), original image pixels")
        a1.set_xlabel("x (px)")
        a1.set_ylabel("y (px)")
        a1.grid(False)
        a1.legend(loc="lower right", fontsize=8, title="keypoints")
        fig.tight_layout()
        plt.show()
        """),
        md("""
        ## Where the time goes

        `Detector.last_timings` holds the seconds of each stage of the last `detect`.  200
        detections of the same image, one interpreter thread (a gateway runs other work too).
        The model itself (`invoke`) should dominate: pre- and post-processing are edgekit's
        overhead.
        """),
        code("""
        runs = {"preprocess": [], "invoke": [], "postprocess": []}
        for _ in range(200):
            det.detect(image)
            t = det.last_timings
            runs["preprocess"].append(1e3 * t.preprocess_s)
            runs["invoke"].append(1e3 * t.invoke_s)
            runs["postprocess"].append(1e3 * t.postprocess_s)
        med = {k: statistics.median(v) for k, v in runs.items()}
        q1 = {k: float(np.percentile(v, 25)) for k, v in runs.items()}
        q3 = {k: float(np.percentile(v, 75)) for k, v in runs.items()}
        for k in runs:
            print(f"{k:<12} median {med[k]:.3f} ms   interquartile {q1[k]:.3f}-{q3[k]:.3f} ms")
        share = (med["preprocess"] + med["postprocess"]) / med["invoke"]
        print(f"pre + post = {100 * share:.0f}% of invoke; detect {sum(med.values()):.2f} ms")

        fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 3.6))
        names = list(runs)
        colors = ["#4c72b0", "#dd8452", "#55a868"]
        y = np.arange(len(names))
        a0.barh(y, [med[k] for k in names], color=colors)
        a0.errorbar([med[k] for k in names], y,
                    xerr=[[med[k] - q1[k] for k in names], [q3[k] - med[k] for k in names]],
                    fmt="none", ecolor="k", capsize=4, label="interquartile range")
        for yi, k in zip(y, names, strict=True):
            a0.text(q3[k], yi, f"   {med[k]:.3f} ms", va="center")
        a0.set_xlim(0, max(q3.values()) * 1.4)
        a0.set_yticks(y, names)
        a0.invert_yaxis()
        a0.set_xlabel("median time per detect (ms)")
        a0.set_title("BlazeFace, per stage (200 runs, 1 thread)")
        a0.legend(loc="lower right")
        for k, c in zip(names, colors, strict=True):
            a1.plot(runs[k], ".", ms=3, color=c, label=k)
        a1.set_yscale("log")
        a1.set_xlabel("run")
        a1.set_ylabel("time (ms, log)")
        a1.set_title("every run (spikes: other work on the shared cores)")
        a1.legend(fontsize=8)
        fig.tight_layout()
        plt.show()
        det.close()
        """),
        md("""
        The article's target was "<120 ms per inference on a Raspberry Pi 4B" for
        MobileNet-SSD; no MobileNet-SSD model ships with any package edgekit may install, so
        that figure is not re-measured here (see `docs/claims.md`).  What this notebook shows:
        without TensorFlow, the whole detection of a face model costs about a millisecond on an
        x86 core, of which edgekit's own stages are a small part.
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("04_secure")
def _secure() -> list:
    return [
        md("""
        # Device identity, mutual TLS and the authenticated envelope

        A fleet PKI issued from CSRs (the device's key never leaves it), a real mutual-TLS 1.3
        handshake on 127.0.0.1, the article's `verify_device_cert` beside edgekit's, and the
        envelope that carries readings over MQTT/UDP: what it costs against a bare AEAD call,
        and how its replay window treats late, duplicated and old messages.
        """),
        code(SETUP),
        code("""
        import socket
        import ssl
        import threading
        import time

        from edgekit.errors import CertificateError, ReplayError
        from edgekit.secure import (
            CertificateAuthority,
            TrustStore,
            accept,
            client_context,
            connect,
            create_csr,
            generate_key,
            server_context,
        )

        root = CertificateAuthority.create_root("fleet root", organization="example")
        site = root.create_intermediate("site-1")
        dev_key = generate_key()                              # on the device (EC P-256)
        dev_cert = site.issue_device(create_csr(dev_key, "dev-7"))
        gw_key = generate_key()
        gw_cert = site.issue_server(gw_key.public_key(), dns_names=["localhost"],
                                    ip_addresses=["127.0.0.1"])
        trust = TrustStore((root.certificate,), intermediates=(site.certificate,))
        print("device:", dev_cert.subject.rfc4514_string(), "issued by",
              dev_cert.issuer.rfc4514_string())
        """),
        md("""
        ## A real handshake on 127.0.0.1

        The gateway (a thread here) accepts one connection with `accept`, which completes the
        TLS 1.3 handshake, requires a client certificate, and re-verifies it with
        `verify_device`: the device's identity comes from its certificate, not from anything it
        says.  Then a device with a certificate from a *rogue* CA of the same name tries.
        """),
        code("""
        def gateway_once(listener, result):
            try:
                tls, ident = accept(listener, server_context(gw_cert, gw_key, trust,
                                                             chain=[site.certificate]), trust)
                with tls:
                    result["device"] = ident.device_id
                    tls.sendall(b"ack " + tls.recv(64))
            except CertificateError as err:
                result["refused"] = err.reason
            finally:
                listener.close()

        def device_session(cert, key, chain):
            listener = socket.create_server(("127.0.0.1", 0))
            result = {}
            th = threading.Thread(target=gateway_once, args=(listener, result))
            th.start()
            t0 = time.perf_counter()
            tls, gw = connect(listener.getsockname(), client_context(cert, key, root.certificate,
                                                                    chain=chain),
                              trust, server_hostname="localhost")
            ms = 1e3 * (time.perf_counter() - t0)
            with tls:
                version = tls.version()
                try:
                    tls.sendall(b"temp=21.5C")
                    result["reply"] = tls.recv(64)
                except (ssl.SSLError, OSError) as err:     # TLS 1.3: refusal shows on read
                    result["client saw"] = type(err).__name__
            th.join(10)
            return ms, version, result

        ms, version, r = device_session(dev_cert, dev_key, [site.certificate])
        print(f"{version}, handshake {ms:.1f} ms: gateway saw device {r['device']!r}, "
              f"reply {r['reply']!r}")

        rogue = CertificateAuthority.create_root("fleet root", organization="example")
        rogue_key = generate_key()
        rogue_cert = rogue.issue_device(create_csr(rogue_key, "dev-7"))   # same id, same CA name
        _, _, r = device_session(rogue_cert, rogue_key, [])
        print(f"rogue-CA device: gateway refused it ({r.get('refused')!r})")
        """),
        md("""
        ## The article's certificate check

        The article's `verify_device_cert(cert_pem, signature, data)` checks one RSA-PSS
        signature with the certificate's key and never looks at the certificate itself.
        edgekit's version validates the chain, the validity period and the purpose first.
        """),
        code("""
        from datetime import datetime, timedelta, timezone

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        from edgekit.secure import certificate_pem, device_uri, verify_device_cert
        from edgekit.secure._article import article_verify_device_cert

        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "d")]))
               .add_extension(x509.SubjectAlternativeName(
                   [x509.UniformResourceIdentifier(device_uri("rsa-dev"))]), critical=False)
               .sign(rsa_key, hashes.SHA256()))
        now = datetime.now(timezone.utc)
        cases = {
            "valid": [site.issue_device(csr), site.certificate],
            "rogue CA": [rogue.issue_device(csr)],
            "expired": [site.issue_device(csr, not_before=now - timedelta(days=30),
                                          not_after=now - timedelta(days=1)), site.certificate],
            "no clientAuth": [site.issue_device(csr, purposes=("server",)), site.certificate],
        }
        data = "temp=21.5C"
        sig = rsa_key.sign(data.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                      salt_length=padding.PSS.MAX_LENGTH),
                           hashes.SHA256())
        print(f"{'certificate':<15}{'article':<10}edgekit")
        for name, chain in cases.items():
            pem = certificate_pem(chain).decode()
            try:
                verdict = "accepted " + verify_device_cert(pem, sig, data,
                                                           trust=root.certificate).device_id
            except CertificateError as err:
                verdict = f"refused ({err.reason})"
            print(f"{name:<15}{str(article_verify_device_cert(pem, sig, data)):<10}{verdict}")
        """),
        md("""
        ## The envelope against a bare AEAD call

        `session()` turns an X25519 exchange into one key per direction; `Sealer.seal` adds a
        12-byte header (version, algorithm, key id, counter) that is also the nonce, and
        `Opener.open` checks it against a replay window.  What does that cost, against calling
        `cryptography`'s ChaCha20-Poly1305 directly with a counter nonce?  Throughput of
        interleaved rounds (a quick measurement, not a benchmark: see
        `benchmarks/bench_secure.py`).
        """),
        code("""
        import os

        from cryptography.hazmat.primitives.asymmetric import x25519
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

        from edgekit.secure import session

        d_x, g_x = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
        dev_seal, dev_open = session(d_x, g_x.public_key(), context=b"dev-7|gw-1")
        gw_seal, gw_open = session(g_x, d_x.public_key(), context=b"dev-7|gw-1")
        assert gw_open.open(dev_seal.seal(b"temp=21.5C", b"topic=t"), b"topic=t") == b"temp=21.5C"

        raw = ChaCha20Poly1305(os.urandom(32))
        nonce = bytes(12)

        def rate(fn, size, n):
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                best = min(best, time.perf_counter() - t0)
            return size * n / best / 1e6                     # MB/s

        sizes = [64, 1024, 16384, 65536]
        res = {k: [] for k in ("raw encrypt", "envelope seal", "raw decrypt", "envelope open")}
        for size in sizes:
            msg = os.urandom(size)
            n = max(20, 400_000 // (size + 500))
            ct = raw.encrypt(nonce, msg, b"")
            it = iter([dev_seal.seal(msg) for _ in range(5 * n)])
            res["raw encrypt"].append(rate(lambda m=msg: raw.encrypt(nonce, m, b""), size, n))
            res["raw decrypt"].append(rate(lambda c=ct: raw.decrypt(nonce, c, b""), size, n))
            res["envelope seal"].append(rate(lambda m=msg: dev_seal.seal(m), size, n))
            res["envelope open"].append(rate(lambda i=it: gw_open.open(next(i)), size, n))
        for i, size in enumerate(sizes):
            print(f"{size:>6} B: seal/raw {res['envelope seal'][i] / res['raw encrypt'][i]:.2f}"
                  f"  open/raw {res['envelope open'][i] / res['raw decrypt'][i]:.2f}")

        fig, ax = plt.subplots(figsize=(8, 4.2))
        styles = {"raw encrypt": ("C0", "--"), "envelope seal": ("C0", "-"),
                  "raw decrypt": ("C1", "--"), "envelope open": ("C1", "-")}
        for k, v in res.items():
            ax.plot(sizes, v, marker="o", color=styles[k][0], ls=styles[k][1], label=k)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sizes, ["64 B", "1 KiB", "16 KiB", "64 KiB"])
        ax.set_xlabel("message size")
        ax.set_ylabel("throughput (MB/s, log)")
        ax.set_title("ChaCha20-Poly1305: edgekit envelope vs the bare AEAD call (1 core)")
        ax.legend()
        fig.tight_layout()
        plt.show()
        """),
        md("""
        The envelope's cost is a fixed ~0.5 µs per message (header, counter, replay window):
        visible on 64-byte readings, lost in the cipher's own time from a few KiB up.

        ## The replay window

        The network reorders, duplicates and delays.  An `Opener` accepts each counter once,
        accepts reordering within its window (here 16 for the picture; 1024 by default), and
        refuses duplicates and anything older than the window.  Below: 60 messages sealed in
        order, delivered shuffled locally, with some duplicated and a few held back far too
        long.
        """),
        code("""
        from edgekit.secure import Opener, Sealer

        key = os.urandom(32)
        tx, rx = Sealer(key), Opener(key, window=16)
        wire = [tx.seal(f"reading {i}".encode()) for i in range(60)]
        rng = np.random.default_rng(7)
        order = list(np.argsort(np.arange(60) + rng.normal(0, 4, 60)))   # local reordering
        for i in rng.choice(60, 8, replace=False):                          # duplicates
            order.insert(min(len(order), order.index(i) + int(rng.integers(1, 12))), i)
        for i in (3, 10, 21):                                               # held back
            order.remove(i)
            order.insert(order.index(i + 30) if i + 30 in order else len(order), i)

        arrivals, highest = [], -1
        for i in order:
            try:
                rx.open(wire[i])
                outcome = "accepted"
            except ReplayError:
                outcome = "duplicate" if any(a[1] == i and a[2] == "accepted"
                                             for a in arrivals) else "too old"
            arrivals.append((len(arrivals), int(i), outcome))
            if outcome == "accepted":
                highest = max(highest, int(i))
            arrivals[-1] += (highest,)
        counts = {o: sum(a[2] == o for a in arrivals) for o in ("accepted", "duplicate", "too old")}
        accepted = [a[1] for a in arrivals if a[2] == "accepted"]
        assert len(accepted) == len(set(accepted))           # no counter accepted twice
        print(f"{len(arrivals)} arrivals: {counts['accepted']} accepted (each counter once), "
              f"{counts['duplicate']} duplicates and {counts['too old']} late ones refused")

        fig, ax = plt.subplots(figsize=(10, 4.5))
        x = np.array([a[0] for a in arrivals])
        hi = np.array([a[3] for a in arrivals])
        ax.fill_between(x, hi - 16, hi, step="post", color="C2", alpha=0.15,
                        label="replay window (16 below the highest accepted)")
        for o, style in {"accepted": ("C2", "o"), "duplicate": ("C3", "x"),
                         "too old": ("k", "s")}.items():
            pts = [(a[0], a[1]) for a in arrivals if a[2] == o]
            if pts:
                ax.scatter(*zip(*pts, strict=True), marker=style[1], color=style[0],
                           label=f"{o} ({len(pts)})", zorder=3)
        ax.set_xlabel("arrival order at the gateway")
        ax.set_ylabel("message counter (sealed order)")
        ax.set_title("Opener(window=16): reordered, duplicated and late messages")
        ax.legend(loc="upper left", fontsize=9)
        fig.tight_layout()
        plt.show()
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("05_memory")
def _memory() -> list:
    return [
        md("""
        # Bytes per reading

        A reading is a timestamp (int64 ns), a value and a quality flag: 17 bytes of facts with a
        float64 value (13 with a float32 one).  The article stores each one as an object of a
        `__slots__` class and claims "40 % less memory per instance" and "100,000 records:
        182 MB -> 109 MB".

        Here: one month of real air temperature at Payerne (43,200 readings, one a minute),
        held in each layout a program might use, measured with `tracemalloc`
        (`edgekit.memory.measure`: what the result holds after it is built, including the
        Python `int` and `float` objects each record owns, and the list that holds them).
        """),
        code(SETUP),
        code("""
        from dataclasses import dataclass
        from typing import NamedTuple

        from edgekit.data import load_series
        from edgekit.memory import ArticleSensorRecord, ReadingStore, measure

        v = load_series("payerne_temp_C")                          # degC, 1 min, June 2016
        t = 1_464_739_200 * 10**9 + np.arange(v.size, dtype=np.int64) * 60 * 10**9
        q = (np.abs(np.diff(v, prepend=v[0])) > 0.5).astype(np.uint8)   # a step test flag
        n = v.size
        print(f"{n:,} readings, {int(q.sum())} flagged")

        class PlainRecord:
            def __init__(self, timestamp, value, quality):
                self.timestamp, self.value, self.quality = timestamp, value, quality

        @dataclass(slots=True)
        class SlotsDataclass:
            timestamp: int
            value: float
            quality: int

        class TupleRecord(NamedTuple):
            timestamp: int
            value: float
            quality: int

        def rows():  # fresh Python ints and floats, as a program receiving readings makes them
            return zip(t.tolist(), v.tolist(), q.tolist(), strict=True)

        def sealed_store():
            s = ReadingStore(segment_size=4096)
            s.extend(t, v, q)
            s.seal()
            return s

        def hot_store():
            s = ReadingStore(segment_size=65536)
            s.extend(t, v, q)
            return s

        layouts = {
            "dict per reading": lambda: [{"t": a, "v": b, "q": c} for a, b, c in rows()],
            "plain class": lambda: [PlainRecord(*r) for r in rows()],
            "article's __slots__ class": lambda: [ArticleSensorRecord(*r) for r in rows()],
            "slots dataclass": lambda: [SlotsDataclass(*r) for r in rows()],
            "NamedTuple": lambda: [TupleRecord(*r) for r in rows()],
            "numpy columns (i8, f4, u1)": lambda: (t.copy(), v.astype(np.float32), q.copy()),
            "numpy columns (i8, f8, u1)": lambda: (t.copy(), v.copy(), q.copy()),
            "ReadingStore, hot": hot_store,
            "ReadingStore, sealed": sealed_store,
        }
        # edgekit.compress keeps a working memory per thread (a few hundred kB, once per
        # process): seal once before measuring, so that one store is not charged for it
        sealed_store().query()
        per = {}
        for name, build in layouts.items():
            obj, m = measure(build)
            per[name] = m.per(n)
            print(f"{name:<28} {per[name]:8.2f} bytes/reading")
        """),
        code("""
        fig, ax = plt.subplots(figsize=(10, 4.8))
        names = list(per)
        colors = ["#999999"] * 5 + ["#1f77b4"] * 2 + ["#d62728"] * 2
        colors[2] = "#ff7f0e"
        bars = ax.barh(names, [per[k] for k in names], color=colors)
        for b, k in zip(bars, names, strict=True):
            ax.text(b.get_width() * 1.08, b.get_y() + b.get_height() / 2, f"{per[k]:.1f} B",
                    va="center", fontsize=9)
        ax.axvline(17, color="k", ls=":", label="17 B: the facts (int64 + float64 + uint8)")
        ax.axvline(1090, color="#ff7f0e", ls="--",
                   label="article: 109 MB / 100,000 records = 1,090 B")
        ax.set_xscale("log")
        ax.set_xlim(0.3, 5000)
        ax.invert_yaxis()
        ax.set_xlabel("bytes per reading (tracemalloc, log scale)")
        ax.set_title(f"One month at Payerne ({n:,} readings), Python objects vs columns")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        plt.show()
        saved = 1 - per["article's __slots__ class"] / per["plain class"]
        shrink = per["article's __slots__ class"] / per["ReadingStore, sealed"]
        print(f"__slots__ saves {100 * saved:.0f}% against a plain class (the article: 40%); "
              f"the sealed store is {shrink:.0f}x smaller than the slots records")
        """),
        md("""
        ## The store as the month streams in

        A gateway receives readings a day at a time.  `ReadingStore` keeps a columnar hot
        buffer per channel and seals it into a compressed segment when it is full; a query sees
        both, and gives back exactly the float64 values it was given.  With a memory budget, it
        applies a policy at the limit: here `drop_oldest` with 24 kB (`refuse` and `spill` to
        disk are the others).
        """),
        code("""
        store = ReadingStore(segment_size=4096)
        capped = ReadingStore(segment_size=512, budget_bytes=24_000, policy="drop_oldest")
        day = 1440
        days, held, held_cap, kept_cap = [], [], [], []
        for d0 in range(0, n, day):
            sl = slice(d0, d0 + day)
            store.extend(t[sl], v[sl], q[sl])
            capped.extend(t[sl], v[sl], q[sl])
            days.append((d0 + day) / day)
            held.append(store.nbytes)
            held_cap.append(capped.nbytes)
            kept_cap.append(len(capped))
        got = store.query(int(t[10 * day]), int(t[11 * day]))       # one day, by time range
        assert np.array_equal(got.timestamps_ns, t[10 * day:11 * day])
        assert np.array_equal(got.values.view(np.uint64), v[10 * day:11 * day].view(np.uint64))
        print(store.stats())

        fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4))
        a0.plot(days, np.array(days) * day * per["article's __slots__ class"], "--",
                color="#ff7f0e", label="article's __slots__ records")
        a0.plot(days, np.array(days) * day * 17, ":", color="k", label="17 B per reading")
        a0.plot(days, held, "-", color="#d62728", lw=2, label="ReadingStore (hot + sealed)")
        a0.plot(days, held_cap, "-", color="#2ca02c", lw=2,
                label="ReadingStore, 24 kB budget, drop_oldest")
        a0.set_yscale("log")
        a0.set_xlabel("days of readings received")
        a0.set_ylabel("memory held (bytes, log)")
        a0.set_title("Memory as a month of 1-minute readings arrives")
        a0.set_ylim(5e3, 5e7)
        a0.legend(fontsize=8, loc="upper left", ncol=2)
        a1.plot(days, np.array(days) * day, ":", color="k", label="received")
        a1.plot(days, kept_cap, "-", color="#2ca02c", lw=2, label="kept under 24 kB")
        a1.set_xlabel("days of readings received")
        a1.set_ylabel("readings held")
        a1.set_title(f"drop_oldest: {capped.stats().dropped_readings:,} dropped (and counted)")
        a1.legend(fontsize=8)
        fig.tight_layout()
        plt.show()
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("06_aio_metrics")
def _aio() -> list:
    return [
        md("""
        # Fan-in from many devices, and the metrics of it

        The article fetched 1,000 URLs with `asyncio.gather` over `aiohttp` and claimed "82 %
        faster than synchronous".  Its gather has no bound on concurrency, no timeout and no
        retry, and one failing device raises out of `gather`: every other result is lost.

        Here a small aiohttp app on 127.0.0.1 plays 300 devices (each answers after 20 ms; 1 %
        hang, 1 % answer 500, 1 % answer 503 once and then recover).  `edgekit.aio.fetch_all`
        fetches them with bounded concurrency, per-attempt timeouts and retries, and
        `edgekit.metrics` turns edgekit's telemetry into Prometheus metrics, scraped over HTTP
        at the end.  The notebook's cells run on the kernel's event loop (top-level `await`).
        """),
        code(SETUP),
        code("""
        import asyncio
        import time
        import urllib.request

        import aiohttp
        from aiohttp import web
        from prometheus_client import CollectorRegistry

        from edgekit.aio import Response, fetch_all
        from edgekit.metrics import enable_metrics, start_metrics_server

        registry = CollectorRegistry()
        metrics = enable_metrics(registry, required=True)
        scrape = start_metrics_server(0, registry=registry, required=True)

        seen_503 = set()

        async def reading(request):
            i = int(request.match_info["i"])
            await asyncio.sleep(float(request.query.get("delay", "0.02")))
            if i % 100 == 37:
                await asyncio.sleep(3600)                        # a device that hangs
            if i % 100 == 73:
                raise web.HTTPInternalServerError()
            if i % 100 == 11 and i not in seen_503:                # busy once, then fine
                seen_503.add(i)
                raise web.HTTPServiceUnavailable()
            return web.json_response({"device": i, "temp_C": 20 + (i % 7) / 10})

        app = web.Application()
        app.router.add_get("/reading/{i}", reading)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        urls = [f"http://127.0.0.1:{port}/reading/{i}" for i in range(300)]
        print(f"300 simulated devices on 127.0.0.1:{port}; metrics at {scrape.url}")
        """),
        md("""
        ## The article's `gather` against `fetch_all`
        """),
        code("""
        async def article_gather(urls):
            async with aiohttp.ClientSession() as s:            # no bound, no timeout
                async def get(u):
                    async with s.get(u) as r:
                        r.raise_for_status()
                        return await r.json()
                return await asyncio.gather(*(get(u) for u in urls))

        seen_503.clear()
        t0 = time.perf_counter()
        try:
            art = await asyncio.wait_for(article_gather(urls), timeout=5)
            article_outcome = f"{len(art)} results"
        except Exception as err:                                    # the first failure
            art = []
            article_outcome = f"raised {type(err).__name__}: 0 results kept"
        t_art = time.perf_counter() - t0
        print(f"article's gather: {article_outcome} after {t_art:.2f} s")

        await asyncio.sleep(0.1)     # the server finishes the requests gather abandoned
        seen_503.clear()
        t0 = time.perf_counter()
        results = await fetch_all(urls, concurrency=100, timeout=0.25, retries=1, backoff=0.02)
        t_ek = time.perf_counter() - t0
        kinds = {}
        for r in results:
            k = ("ok, after a retry" if r.attempts > 1 else "ok") if isinstance(r, Response) \\
                else type(r).__name__
            kinds[k] = kinds.get(k, 0) + 1
        print(f"fetch_all: {kinds} in {t_ek:.2f} s, in request order")
        print("e.g.", results[0].data, "|", repr(results[37])[:90], "|", repr(results[73])[:90])

        fig, ax = plt.subplots(figsize=(9, 2.8))
        order = ["ok", "ok, after a retry", "RequestTimeoutError", "HTTPStatusError"]
        colors = ["#2ca02c", "#98df8a", "#ff7f0e", "#d62728"]
        left = 0
        for k, c in zip(order, colors, strict=True):
            ax.barh("edgekit fetch_all", kinds.get(k, 0), left=left, color=c, label=k)
            left += kinds.get(k, 0)
        ax.barh("article's gather", len(art), color="#2ca02c")
        ax.barh("article's gather", len(urls) - len(art), left=len(art), color="#cccccc",
                label="lost (gather raised)")
        ax.set_xlabel("requests (300 devices)")
        ax.set_title("What each approach hands back: one result per request, or nothing")
        ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.3))
        fig.tight_layout()
        plt.show()
        """),
        md("""
        ## Concurrency: where "faster than synchronous" comes from

        50 healthy devices answering in 10 ms each, fetched with a concurrency limit from 1
        (one at a time, the synchronous case) to 50.  The ideal is `ceil(50 / limit) x 10 ms`.
        """),
        code("""
        healthy = [u + "?delay=0.01" for i, u in enumerate(urls) if i % 100 not in (11, 37, 73)]
        healthy = healthy[:50]
        limits = [1, 2, 5, 10, 25, 50]
        walls = []
        for c in limits:
            t0 = time.perf_counter()
            res = await fetch_all(healthy, concurrency=c, timeout=2)
            walls.append(time.perf_counter() - t0)
            assert all(isinstance(r, Response) for r in res)
        ideal = [np.ceil(50 / c) * 0.01 for c in limits]
        for c, w in zip(limits, walls, strict=True):
            print(f"concurrency {c:>3}: {w:.3f} s ({100 * (1 - w / walls[0]):.0f}% less than 1)")

        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(limits, walls, "o-", color="#d62728", label="fetch_all, measured")
        ax.plot(limits, ideal, "k--", label="ideal: ceil(50 / limit) x 10 ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(limits, [str(c) for c in limits])
        ax.set_xlabel("concurrency limit (requests in flight)")
        ax.set_ylabel("wall time for 50 requests (s, log)")
        ax.set_title("50 requests of 10 ms on 127.0.0.1")
        ax.legend()
        fig.tight_layout()
        plt.show()
        """),
        md("""
        ## What Prometheus sees

        Everything above was also counted by `edgekit.metrics`: a real scrape of the
        exporter's `/metrics` over HTTP, parsed back, gives the request outcomes and the
        latency histogram.
        """),
        code("""
        from prometheus_client.parser import text_string_to_metric_families

        text = (await asyncio.to_thread(urllib.request.urlopen, scrape.url, timeout=5)
                ).read().decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for line in text.splitlines():
            if line.startswith("edgekit_aio_requests_total"):
                print(line)
        buckets = {}
        for smp in families["edgekit_aio_request_duration_seconds"].samples:
            if smp.name.endswith("_bucket"):
                buckets.setdefault(smp.labels["outcome"], []).append(
                    (float(smp.labels["le"]), smp.value))

        fig, ax = plt.subplots(figsize=(8, 4))
        for outcome, pts in sorted(buckets.items()):
            pts.sort()
            le = [p[0] for p in pts if np.isfinite(p[0])]
            cum = [p[1] for p in pts if np.isfinite(p[0])]
            ax.step(le, cum, where="post", label=f"outcome={outcome}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(0.7, None)
        ax.set_xlabel("request duration, all attempts (s, log; histogram bucket upper bound)")
        ax.set_ylabel("requests at or below (cumulative)")
        ax.set_title("edgekit_aio_request_duration_seconds, from a /metrics scrape")
        ax.legend(fontsize=8)
        fig.tight_layout()
        plt.show()
        scrape.close()
        metrics.close()
        await runner.cleanup()
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("07_update")
def _update() -> list:
    return [
        md("""
        # Signed delta updates of real packages

        The article promises "differential update packages 70-90 % smaller" with no algorithm.
        `edgekit.update` diffs two directory trees file by file (a bsdiff-class delta, zstd's
        prefix mode, or the whole file compressed, whichever is smallest), signs the result with
        `edgekit.secure`, and installs it on the device side atomically.

        Real pairs of package versions are on every machine that has this venv: pip vendors
        its own copies of `requests`, `certifi`, `idna`, `packaging`... (with their imports
        rewritten to `pip._vendor`), and edgekit's dependencies install releases of the same
        packages, usually different ones.  Each pair below is one package at those two
        versions, older -> newer, read from this venv (`__pycache__` left out); which pairs
        they are depends on the pip and the packages installed, and is printed.
        """),
        code(SETUP),
        code("""
        import importlib.metadata
        import importlib.util
        import io
        import shutil
        import tarfile
        import tempfile
        import time
        from pathlib import Path

        import pip
        import pip._vendor
        import zstandard
        from packaging.version import Version

        from edgekit.update import PatchOptions, diff_trees

        tmp = Path(tempfile.mkdtemp(prefix="edgekit-update-"))
        vendored = Path(pip._vendor.__file__).parent
        LEVEL = 3               # zstd's default level, for the patch and the baseline alike
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")

        def vendored_version(name):
            for line in (vendored / "vendor.txt").read_text().splitlines():
                if line.split("==")[0].strip().lower() == name:
                    return line.split("==")[1].split()[0]
            return None

        pairs = {}                                   # name -> (older, newer, which is which)
        for name in ("requests", "certifi", "idna", "urllib3", "packaging", "platformdirs"):
            spec = importlib.util.find_spec(name)
            vend_v, inst_v = vendored_version(name), importlib.metadata.version(name)
            if spec is None or vend_v is None or Version(vend_v) == Version(inst_v) \\
                    or not (vendored / name).is_dir():
                continue
            inst_src = Path(next(iter(spec.submodule_search_locations)))
            if any(inst_src.rglob("*.so")):        # a compiled release: not the same package
                continue
            shutil.copytree(vendored / name, tmp / name / vend_v, ignore=ignore)
            shutil.copytree(inst_src, tmp / name / inst_v, ignore=ignore)
            if Version(vend_v) < Version(inst_v):
                pairs[name] = (vend_v, inst_v, "pip's copy -> installed")
            else:
                pairs[name] = (inst_v, vend_v, "installed -> pip's copy")
            if len(pairs) == 3:
                break
        print(f"pip {pip.__version__}; pairs:", pairs)
        assert pairs, "no vendored/installed pair differs in this environment"
        """),
        md("""
        ## Patch size against shipping the new release compressed

        The baseline is what an update without deltas ships: the new tree as one tar archive
        compressed with zstd (same level as the patch, so only the method differs).
        """),
        code("""
        def tar_zstd(tree):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tf:
                tf.add(tree, arcname=tree.parent.name)
            return len(zstandard.ZstdCompressor(level=LEVEL).compress(buf.getvalue()))

        rows = {}
        for name, (old_v, new_v, how) in pairs.items():
            old, new = tmp / name / old_v, tmp / name / new_v
            raw = sum(f.stat().st_size for f in new.rglob("*") if f.is_file())
            t0 = time.perf_counter()
            info = diff_trees(old, new, tmp / f"{name}.ekt", PatchOptions(level=LEVEL))
            rows[name] = dict(raw=raw, full=tar_zstd(new), patch=info.size, ops=info.ops,
                              seconds=time.perf_counter() - t0)
            r = rows[name]
            print(f"{name} {old_v} -> {new_v} ({how}): {raw:,} B of files; "
                  f"tar+zstd {r['full']:,} B; "
                  f"tree patch {r['patch']:,} B ({100 * (1 - r['patch'] / r['full']):.0f}% "
                  f"smaller), made in {r['seconds']:.2f} s; files {r['ops']}")

        fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.2),
                                     gridspec_kw={"width_ratios": [1.4, 1]})
        names = list(rows)
        x = np.arange(len(names))
        for off, key, label, c in ((-0.27, "raw", "new release, files", "#cccccc"),
                                   (0, "full", f"new release, tar + zstd-{LEVEL}", "#1f77b4"),
                                   (0.27, "patch", "edgekit tree patch", "#d62728")):
            bars = a0.bar(x + off, [rows[n][key] / 1e3 for n in names], 0.27, label=label,
                          color=c)
            if key == "patch":
                for b, n in zip(bars, names, strict=True):
                    saving = 1 - rows[n]["patch"] / rows[n]["full"]
                    a0.text(b.get_x() + b.get_width() / 2, b.get_height() + 4,
                            f"{-100 * saving:+.0f}%", ha="center", fontsize=9)
        a0.set_ylim(0, 1.3 * max(rows[n]["raw"] for n in names) / 1e3)
        a0.set_xticks(x, [f"{n}\\n{pairs[n][0]} -> {pairs[n][1]}" for n in names])
        a0.set_ylabel("bytes to ship (kB)")
        a0.set_title("Update size: delta against the compressed release\\n"
                     "(label: patch size vs tar+zstd; the article claims -70 to -90%)",
                     fontsize=10)
        a0.legend(fontsize=8, loc="upper center", ncol=3)
        ops = ["keep", "rename", "patch", "add"]
        bottom = np.zeros(len(names))
        for op, c in zip(ops, ["#2ca02c", "#98df8a", "#d62728", "#ff7f0e"], strict=True):
            v = np.array([rows[n]["ops"].get(op, 0) for n in names])
            a1.bar(names, v, bottom=bottom, label=op, color=c)
            bottom += v
        a1.set_ylabel("files in the new release")
        a1.set_ylim(0, 1.35 * bottom.max())
        a1.set_title("How each new file is made", fontsize=10)
        a1.legend(fontsize=8)
        fig.tight_layout()
        plt.show()
        """),
        md("""
        Files that exist in both versions patch well (a small edit costs a few hundred bytes);
        files that are new in the release are compressed one by one, which loses to a solid
        tar + zstd archive when many small files are added.  The saving therefore depends on
        how far apart the two releases are, not on a fixed percentage.

        ## Signed, verified, installed atomically

        The first pair as an update bundle: a manifest signed with an Ed25519 key (via
        `edgekit.secure`), and a device bootstrapped with the old release.  First the patch
        with one byte flipped, and a bundle signed by a key the device does not trust: both
        refused, the old version still installed.  Then the genuine bundle, installed
        atomically and compared file by file with the new release.
        """),
        code("""
        from datetime import datetime, timedelta, timezone

        from edgekit.errors import EdgekitError
        from edgekit.secure import generate_key, parse_version
        from edgekit.update import Installer, build_update, scan_tree


        def signable(v):                           # manifests take versions like 1.2.0
            try:
                parse_version(v)
                return True
            except EdgekitError:
                return False

        name = next((n for n, (o, v, _) in pairs.items() if signable(o) and signable(v)),
                    next(iter(pairs)))
        old_v, new_v, _ = pairs[name]
        base, version = (old_v, new_v) if signable(old_v) and signable(new_v) else ("1", "2")
        key = generate_key("ed25519")
        expires = datetime.now(timezone.utc) + timedelta(days=7)
        bundle = build_update(tmp / name / old_v, tmp / name / new_v, tmp / "bundle", name=name,
                              base_version=base, version=version, keys=key, expires=expires,
                              options=PatchOptions(level=LEVEL))
        device = Installer(tmp / "device", name, key.public_key())
        device.bootstrap(tmp / name / old_v, base)

        bad = bytearray(bundle.patch.read_bytes())
        bad[len(bad) // 2] ^= 0x01
        (tmp / "tampered.ekt").write_bytes(bad)
        forged = build_update(tmp / name / old_v, tmp / name / new_v, tmp / "forged", name=name,
                              base_version=base, version=version, keys=generate_key("ed25519"),
                              expires=expires, options=PatchOptions(level=1))
        for label, man, patch in (("one flipped byte", bundle.manifest.read_bytes(),
                                   tmp / "tampered.ekt"),
                                  ("untrusted signer", forged.manifest.read_bytes(),
                                   forged.patch)):
            try:
                device.install(man, patch)
                print(label, "-> INSTALLED (wrong!)")
            except EdgekitError as err:
                print(f"{label:<17} -> refused: {type(err).__name__}: {str(err)[:70]}")
        print("installed version after both:", device.installed_version)

        t0 = time.perf_counter()
        res = device.install(bundle.manifest.read_bytes(), bundle.patch)
        dt = time.perf_counter() - t0
        same = scan_tree(device.current) == scan_tree(tmp / name / new_v)
        print(f"genuine bundle: installed {name} {res.version} from a {bundle.patch_size:,} B "
              f"patch in {dt:.2f} s; identical to the release, file by file: {same}")
        shutil.rmtree(tmp)
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("08_twin")
def _twin() -> list:
    return [
        md("""
        # Device shadows: the twin, its telemetry and its metrics

        The article names digital twins as a future trend and gives no code.  `edgekit.twin`
        keeps a *shadow* of each device with the AWS IoT Device Shadow contract (desired /
        reported / delta, versions, the service's limits), in a durable SQLite store, served
        over MQTT by `edgekit.twin.mqtt` (see docs/twin.md; that part needs a broker and is
        not run here).  This notebook runs the transport-free core, the way the MQTT service
        does:

        1. a fleet of stations on a file store: the cloud changes desired state, each device
           gets its delta, applies it and reports; stale versions are refused;
        2. what a delta report saves on the wire against publishing the whole document;
        3. a week of real readings beside the twin: frames for the bulk channel, a summary in
           the shadow, checked and decoded on the cloud side;
        4. the twin's metrics as Prometheus sees them.
        """),
        code(SETUP),
        code("""
        import json
        import tempfile
        from pathlib import Path

        import prometheus_client

        from edgekit.errors import ShadowError
        from edgekit.metrics import enable_metrics
        from edgekit.twin import Shadows, SQLiteShadowStore

        registry = prometheus_client.CollectorRegistry()
        metrics = enable_metrics(registry, required=True)
        tmp = Path(tempfile.mkdtemp(prefix="edgekit-twin-"))
        shadows = Shadows(SQLiteShadowStore(str(tmp / "shadows.db")))
        fleet = [f"station-{i:03d}" for i in range(50)]

        # every device reports what it runs; the cloud then asks half of them for a new rate
        shadows.apply_updates([(d, json.dumps({"state": {"reported": {
            "sample_s": 60, "fw": "1.4.2"}}}), None) for d in fleet])
        shadows.apply_updates([(d, json.dumps({"state": {"desired": {"sample_s": 10}}}), None)
                               for d in fleet[::2]])
        pending = {d: shadows.get(d)["state"].get("delta") for d in fleet}
        print(sum(v is not None for v in pending.values()), "devices have a delta:",
              pending[fleet[0]])
        # each device applies its delta and reports the new state: the deltas disappear
        shadows.apply_updates([(d, json.dumps({"state": {"reported": delta}}), None)
                               for d, delta in pending.items() if delta])
        print("deltas left:", sum("delta" in shadows.get(d)["state"] for d in fleet))
        doc = shadows.get(fleet[0])
        try:
            shadows.update(fleet[0], json.dumps({"state": {"desired": {"sample_s": 5}},
                                                 "version": doc["version"] - 1}))
        except ShadowError as err:
            print("stale version refused:", err.code, err.message)
        print("history of", fleet[0], [(h.version, h.operation) for h in
                                       shadows.history(fleet[0])])
        """),
        md("""
        ## Bytes on the wire: delta report against the whole document

        A gateway with N reported fields changes one or two readings and its uptime per
        update.  Per update: the MQTT 3.1.1 bytes of the request and of the `/update/accepted`
        answer the device receives, PUBACKs included (the same count that
        `benchmarks/bench_twin.py` asserts).
        """),
        code("""
        from edgekit.twin._wire import gateway_bytes_per_update

        fields = [8, 16, 32, 64, 128]
        delta = [gateway_bytes_per_update("delta", fields=n, updates=200) for n in fields]
        full = [gateway_bytes_per_update("full", fields=n, updates=200) for n in fields]
        for n, d, f in zip(fields, delta, full, strict=True):
            print(f"{n:4d} fields: delta {d:5.0f} B, full document {f:6.0f} B ({f / d:4.1f}x)")
        fig, ax = plt.subplots(figsize=(7, 3.8))
        ax.plot(fields, full, "o-", label="full document every update")
        ax.plot(fields, delta, "o-", label="delta report (edgekit.twin)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(fields, [str(n) for n in fields])
        ax.set_xlabel("reported fields")
        ax.set_ylabel("MQTT bytes per update")
        ax.set_title("A delta report costs the same whatever the state's size", fontsize=10)
        ax.legend()
        plt.show()
        """),
        md("""
        ## Telemetry beside the twin

        A shadow's state is limited to 8 KiB: a day of one-minute readings does not belong in
        it.  `summarize_store` turns a day of an `edgekit.memory.ReadingStore` into an
        `edgekit.compress` frame (the bulk channel) and a summary for `state.reported`; the
        cloud checks each frame against the summary (`open_frame`: size, SHA-256, count, span)
        and decodes it exactly.  Real data: air temperature at Payerne, June 2016.
        """),
        code("""
        from edgekit.data import load_series
        from edgekit.memory import ReadingStore
        from edgekit.twin import open_frame, summarize_store

        x = load_series("payerne_temp_C")
        DAY = 86_400 * 10**9
        t = 1_464_739_200 * 10**9 + np.arange(x.size, dtype=np.int64) * 60 * 10**9
        store = ReadingStore()
        store.extend(t, x)
        store.seal()
        bulk = {}
        for d in range(7):
            batch = summarize_store(store, int(t[0]) + d * DAY, int(t[0]) + (d + 1) * DAY,
                                    decimals=2)
            bulk[d] = batch.frame
            shadows.update("station-pay", json.dumps(
                {"state": {"reported": {"air_temp_C": {"day": d, **batch.summary}}}}))
        print("the shadow's summary:", json.dumps(
            shadows.get("station-pay")["state"]["reported"]["air_temp_C"]))
        # the cloud side: the history has every day's summary; each frame checks and decodes
        days = [json.loads(h.request)["state"]["reported"]["air_temp_C"]
                for h in shadows.history("station-pay")]
        decoded = {s["day"]: open_frame(bulk[s["day"]], s) for s in days}
        raw = sum(s["raw_bytes"] for s in days)
        sent = sum(s["frame_bytes"] for s in days)
        per_summary = np.mean([len(json.dumps(s)) for s in days])
        print(f"7 days: {raw:,} B raw -> {sent:,} B of frames ({raw / sent:.0f}x), "
              f"{per_summary:.0f} B of summary per day in the shadow")

        fig, ax = plt.subplots(figsize=(11, 3.8))
        for s in days:
            tt, vv = decoded[s["day"]]
            hours = (tt - t[0]) / 3.6e12
            ax.plot(hours, vv, lw=0.6, color="#1f77b4")
            h0, h1 = (s["t0_ms"] * 10**6 - t[0]) / 3.6e12, (s["t1_ms"] * 10**6 - t[0]) / 3.6e12
            ax.fill_between([h0, h1], s["min"], s["max"], color="#ff7f0e", alpha=0.15)
            ax.hlines(s["mean"], h0, h1, color="#d62728")
        ax.set_xlabel("hours since 2016-06-01 00:00 UTC")
        ax.set_ylabel("air temperature (degC)")
        ax.set_title("Blue: readings decoded from the bulk frames.  Orange band and red line: "
                     "min / max / mean the twin carries", fontsize=10)
        plt.show()
        """),
        md("""
        ## The twin's metrics

        `Shadows` emits accepted updates and refusals by code (409: version conflict); a
        device's `ShadowClient` adds its offline queue depth and the sync lag of each report.
        Prometheus reads them from `edgekit.metrics` like every other subsystem's.
        """),
        code("""
        text = prometheus_client.generate_latest(registry).decode()
        print("\\n".join(line for line in text.splitlines()
                        if line.startswith("edgekit_twin_") and "_created" not in line))
        metrics.close()
        shadows.close()
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("09_federated")
def _federated() -> list:
    return [
        md("""
        # Federated learning on a skewed fleet

        Ten clients each hold a slice of sklearn's digits with Dirichlet(0.1) label skew
        (most hold one to three digits); each round five of them train one local epoch of a
        numpy softmax regression (650 float32 parameters) and send their models back as wire
        bytes, which `edgekit.federated.simulate` counts.  We compare strategies by
        held-out accuracy per round and per uplink byte, then poison two clients.
        The full study (10 seeds, an MLP, a second dataset) is `tools/federated_study.py`
        and docs/federated.md.
        """),
        code(SETUP),
        code("""
        from edgekit.federated import PoisonedClient, dirichlet_partition, simulate
        from edgekit.federated._tasks import evaluator, fleet, load_task, make_strategy

        task = load_task("digits")
        parts = dirichlet_partition(task.y_train, 10, alpha=0.1, seed=0)
        counts = np.array([np.bincount(task.y_train[p], minlength=10) for p in parts])
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.imshow(counts, cmap="Blues", aspect="auto")
        ax.set(xlabel="digit", ylabel="client", title="examples per client and class",
               xticks=range(10), yticks=range(10))
        plt.show()
        """),
        md("""
        ## Strategies: accuracy per round and per byte

        SCAFFOLD sends its control variates with the model, so each client moves twice the
        bytes; the 8-bit codec (when `edgekit.federated.compression` is installed) sends a
        quarter.
        """),
        code("""
        ev = evaluator(task)
        runs = {}
        for name in ("fedavg", "fedavgm", "fedadam", "scaffold"):
            clients, init = fleet(task, seed=0)
            runs[name] = simulate(make_strategy(name, init), clients, rounds=30, fraction=0.5,
                                  seed=0, evaluate_fn=ev)
        try:
            from edgekit.federated.compression import QuantizedCodec
        except ImportError:
            pass
        else:
            clients, init = fleet(task, seed=0)
            runs["fedadam 8-bit"] = simulate(make_strategy("fedadam", init), clients, rounds=30,
                                             fraction=0.5, seed=0, evaluate_fn=ev,
                                             codec=QuantizedCodec(bits=8))
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for name, h in runs.items():
            acc = h.metric("accuracy")
            a1.plot(np.arange(1, len(acc) + 1), acc, label=name)
            a2.plot(np.cumsum(h.bytes_up()) / 1e3, acc, label=name)
        a1.set(xlabel="round", ylabel="held-out accuracy", ylim=(0.5, 1))
        a2.set(xlabel="uplink kB (all clients)")
        a1.legend()
        plt.show()
        for name, h in runs.items():
            print(f"{name:14s} final {h.final('accuracy'):.1%}, 90% at round "
                  f"{h.rounds_to('accuracy', 0.9)}, {h.bytes_up().sum() / 1e3:.0f} kB up")
        """),
        md("""
        ## Two poisoned clients

        Two of ten clients send their update sign-flipped and scaled tenfold; all ten train
        every round (IID data here: under strong label skew the honest updates disagree too,
        see docs/federated.md).
        """),
        code("""
        acc = {}
        for name in ("fedavg", "median", "trimmed", "multikrum"):
            clients, init = fleet(task, seed=0, alpha=None)
            for c in ("c0", "c1"):
                clients[c] = PoisonedClient(clients[c], factor=-10.0)
            h = simulate(make_strategy(name, init), clients, rounds=10, fraction=1.0, seed=0,
                         evaluate_fn=ev)
            acc[name] = h.final("accuracy")
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(list(acc), list(acc.values()))
        ax.set(ylabel="held-out accuracy", title="2 of 10 clients sign-flipped x10")
        plt.show()
        print({k: round(v, 3) for k, v in acc.items()})
        """),
    ]


# --------------------------------------------------------------------------------------
@notebook("10_market")
def _market() -> list:
    return [
        md("""
        # A compute market for edge nodes

        Edge nodes sell capacity (cores, GiB, any named resource), applications bid for
        tasks, and `edgekit.market.clear` decides who runs where and who pays or receives
        what. No mechanism is at once efficient, truthful for both sides, individually
        rational and budget-balanced (Myerson-Satterthwaite): this notebook measures what
        each mechanism gives up, on random markets from `edgekit.market.generate`. The
        full tables (held-out seeds, 20,000 probes a size) are `docs/market_measured.md`.
        """),
        code(SETUP),
        md("""
        ## Welfare against the optimum

        One market of 20 nodes and 200 bids. The yardstick is the welfare MILP (HiGHS,
        time-limited; `bound` is a proven upper bound). VCG is left out here: it needs one
        MILP per trader.
        """),
        code("""
        from edgekit.market import DEFAULT_MECHANISM, MECHANISMS
        from edgekit.market._arrays import compile_market
        from edgekit.market.generate import sized_market
        from edgekit.market.optimum import optimal_welfare
        from edgekit.market.probes import check_clearing

        m = sized_market("medium", 1)
        arr = compile_market(m.asks, m.bids)
        opt = optimal_welfare(m.asks, m.bids, time_limit_s=2.0)
        print(f"optimum >= {opt.welfare:.3f}/h, bound {opt.bound:.3f}/h (gap {opt.gap:.2%})")
        clearings = {name: fn(arr) for name, fn in MECHANISMS.items()}
        for name, c in clearings.items():
            assert check_clearing(arr, c) == [], name  # IR, capacity, no deficit
        names = list(clearings)
        pct = [100 * clearings[n].welfare / opt.bound for n in names]
        kept = [clearings[n].surplus for n in names]
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
        ax[0].barh(names, pct, color=["C3" if n == DEFAULT_MECHANISM else "C0" for n in names])
        ax[0].axvline(100, color="k", lw=0.8)
        ax[0].set_xlabel("welfare, % of the proven bound")
        ax[1].barh(names, kept)
        ax[1].set_xlabel("market keeps (payments - receipts) per hour")
        plt.tight_layout()
        """),
        md("""
        ## Prices

        Per-unit prices of the clearings that have them, and how a repeated market's prices
        and utilisation move over rounds as tasks arrive, run and leave.
        """),
        code("""
        from edgekit.market.repeated import repeated_market

        for name, c in clearings.items():
            print(f"{name:<16}", {k: round(v, 4) for k, v in c.prices.items()})
        runs = {n: repeated_market(n, n_nodes=10, rounds=16, arrivals=25, seed=0)
                for n in (DEFAULT_MECHANISM, "halves", "trade-reduction", "posted-price")}
        fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
        for n, r in runs.items():  # halves: the mean of its two halves' prices
            rounds = [k.round for k in r.rounds]
            cpu = [np.mean([v for key, v in k.prices.items() if key.endswith("cpu")] or [np.nan])
                   for k in r.rounds]
            ax[0].plot(rounds, cpu, marker=".", label=n)
            ax[1].plot(rounds, [k.utilization["cpu"] for k in r.rounds], label=n)
            ax[2].plot(rounds, [k.welfare for k in r.rounds], label=n)
        ax[0].set_ylabel("cpu price per core-hour")
        ax[1].set_ylabel("cpu utilisation")
        ax[2].set_ylabel("welfare of running tasks /h")
        for a in ax:
            a.set_xlabel("round")
        ax[0].legend(fontsize=8)
        plt.tight_layout()
        """),
        md("""
        ## Manipulability

        One trader at a time misreports (applications: value scaled or shifted; nodes:
        costs scaled, one resource's cost moved, capacity withheld) and we check its
        utility at its true values. A small sample here; the study probes 20,000
        application misreports per size.
        """),
        code("""
        from edgekit.market.probes import probe

        small = [sized_market("small", s) for s in range(6)]
        shares = {}
        for name in list(MECHANISMS) + ["pay-your-bid"]:
            n_app, n_node = (8, 4) if name == "pay-your-bid" else (60, 30)
            res = probe(name, small, app_probes=n_app, node_probes=n_node, seed=0)
            shares[name] = (100 * res.apps.share, 100 * res.nodes.share)
            print(f"{name:<16} apps {res.apps.profitable}/{res.apps.probes}, nodes "
                  f"{res.nodes.profitable}/{res.nodes.probes}, largest node gain "
                  f"{res.nodes.max_gain:.3g}/h ({res.nodes.worst or '-'})")
        x = np.arange(len(shares))
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.bar(x - 0.2, [v[0] for v in shares.values()], 0.4, label="application misreports")
        ax.bar(x + 0.2, [v[1] for v in shares.values()], 0.4, label="node misreports")
        ax.set_xticks(x, list(shares), rotation=15)
        ax.set_ylabel("% of probes that profit")
        ax.legend()
        plt.tight_layout()
        """),
        md("""
        ## VCG: efficient and truthful, at a deficit

        VCG on the exact allocation pays every trader its marginal contribution; on two
        small markets the market has to subsidize the trades.
        """),
        code("""
        from edgekit.market.vcg import vcg_detail

        for mk in small[:2]:
            v = vcg_detail(mk.asks, mk.bids)
            print(f"seed {mk.seed}: welfare {v.clearing.welfare:.3f}/h, apps pay "
                  f"{sum(v.clearing.payments.values()):.3f}, nodes receive "
                  f"{sum(v.clearing.receipts.values()):.3f}: deficit {v.deficit:.3f}/h "
                  f"({v.deficit / v.clearing.welfare:.0%}), exact {v.exact}")
        """),
    ]


# --------------------------------------------------------------------------------------
def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=NOTEBOOKS[name]())
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):    # stable ids: regenerating changes nothing
        cell["id"] = f"{name}-{i}"
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, object]]:
    """What --check compares: each cell's type, source and outputs (not the JSON layout,
    which may differ between nbformat versions)."""
    return [(c.cell_type, c.source, c.get("outputs")) for c in nb.cells]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if a notebook is stale")
    args = ap.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        if name in PENDING:
            continue
        path = EXAMPLES / f"{name}.ipynb"
        text = render(name)
        if args.check:
            if not path.is_file() or _cells(nbformat.read(path, as_version=4)) != _cells(
                    nbformat.reads(text, as_version=4)):
                stale.append(path.name)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale (run python tools/make_notebooks.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``edgekit demo`` section: real fetches reported as Prometheus metrics, scraped over HTTP
from a metrics server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import TextIO

from edgekit._demo import DemoRow
from edgekit.metrics import enable_metrics, start_metrics_server


def run(out: TextIO) -> list[DemoRow]:
    from edgekit.aio.fetch import _aiohttp

    _aiohttp()  # the demo's traffic comes from edgekit.aio (extra [aio])
    import prometheus_client
    from prometheus_client.parser import text_string_to_metric_families

    from edgekit.aio import fetch_all
    from edgekit.aio._loopback import LoopbackServer

    registry = prometheus_client.CollectorRegistry()
    metrics = enable_metrics(registry, required=True)
    server = start_metrics_server(0, registry=registry, required=True)
    assert metrics is not None and server is not None
    try:
        with server, \
                LoopbackServer(lifetime_s=60, max_requests=1000, max_delay_s=2.0) as devices:
            urls = [devices.url(f"m{i}", delay=0.01, **({"fail": 1} if i % 10 == 3 else {}))
                    for i in range(100)]
            asyncio.run(fetch_all(urls, retries=1, backoff=0.01))
            with urllib.request.urlopen(server.url, timeout=10) as resp:
                text = resp.read().decode()
    finally:
        metrics.close()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    ok = samples.get(("edgekit_aio_requests_total", (("outcome", "ok"),)), 0)
    retries = samples.get(("edgekit_aio_retries_total", (("outcome", "ok"),)), 0)
    families = {name for name, _ in samples if name.startswith("edgekit_")}
    print(f"  scraped {server.url}: {len(text)} bytes, {len(families)} edgekit series names",
          file=out)
    print(f"  edgekit_aio_requests_total{{outcome=\"ok\"}} {ok:.0f}, "
          f"edgekit_aio_retries_total{{outcome=\"ok\"}} {retries:.0f}", file=out)
    return [DemoRow("Prometheus metrics, scraped over HTTP",
                    f"{ok:.0f} requests, {retries:.0f} retries counted", "no code")]

"""``python -m edge_service CONFIG.json [--host H] [--port P]``: run the gateway until
SIGINT/SIGTERM, then drain the connections and flush the store."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from edge_service.app import EdgeService
from edge_service.config import load_config


async def _serve(service: EdgeService) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    print(f"edge_service listening port={service.port} metrics_port={service.metrics_port}",
          flush=True)
    await stop.wait()
    await service.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_service", description=__doc__)
    p.add_argument("config", help="JSON configuration (see config.example.json)")
    p.add_argument("--host", default=None, help="listen address (overrides the file)")
    p.add_argument("--port", type=int, default=None, help="mutual-TLS port (0: any)")
    p.add_argument("--metrics-port", type=int, default=None, help="plain-HTTP /metrics port")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    config = load_config(args.config, host=args.host, port=args.port,
                         metrics_port=args.metrics_port)
    asyncio.run(_serve(EdgeService(config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

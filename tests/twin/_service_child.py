"""Child process of the service SIGKILL test: a ShadowService on a file store, started, then
idle until killed.  Prints ``ready`` once subscribed.  Run as
``python -m tests.twin._service_child DB PORT CERT KEY CA``."""

from __future__ import annotations

import sys
import time

from edgekit.secure import client_context
from edgekit.twin import Shadows, SQLiteShadowStore
from edgekit.twin.mqtt import ShadowService


def main() -> None:
    db, port, cert, key, ca = sys.argv[1:6]
    from edgekit.secure import load_certificates

    tls = client_context(cert, key, load_certificates(ca))
    service = ShadowService(Shadows(SQLiteShadowStore(db)), "127.0.0.1", int(port), tls=tls,
                            client_id="svc-kill")
    service.start(timeout_s=30)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()

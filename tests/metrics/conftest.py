from tests.aio.common import server  # noqa: F401  (the loopback server fixture)

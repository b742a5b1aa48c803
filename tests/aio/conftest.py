from tests.aio.common import server  # noqa: F401  (the fixture)

"""Hypothesis profiles: ``default`` for development, ``ci`` (picked when CI is set, or with
HYPOTHESIS_PROFILE=ci) with fewer examples and no deadline on a shared 2-core machine; and
``--infer-runtime=NAME``, which runs tests/infer on one TFLite runtime (CI: tflite_runtime,
in a venv of its own)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI")
                                                                 else "default"))


def pytest_addoption(parser):
    parser.addoption(
        "--infer-runtime", default=None, metavar="NAME",
        help="run edgekit.infer on this TFLite runtime only (ai_edge_litert, tflite_runtime "
             "or tensorflow): it must be installed, and the others look absent to the tests")


def pytest_configure(config):
    """``--infer-runtime=NAME``: edgekit.infer sees the other installed runtimes as absent, so
    ``runtime="auto"`` is NAME in every test, for this session only.  A usage error when NAME
    is not installed, so that a broken install cannot pass as skipped tests."""
    name = config.getoption("--infer-runtime")
    if name is None:
        return
    import pytest

    import edgekit.infer.runtime as rt

    if name not in rt.RUNTIMES:
        raise pytest.UsageError(f"--infer-runtime={name}: not one of {', '.join(rt.RUNTIMES)}")
    real = rt._import
    if real(name) is None:
        raise pytest.UsageError(f"--infer-runtime={name}: that runtime is not installed")
    hidden = {r for r in rt.RUNTIMES if r != name and real(r) is not None}
    rt._import = lambda runtime: None if runtime in hidden else real(runtime)
    config.add_cleanup(lambda: setattr(rt, "_import", real))

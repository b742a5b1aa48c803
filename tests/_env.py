"""The environment of every child process a test starts.

A child inherits ``os.environ`` from whoever ran pytest: a packager's
``EDGEKIT_BACKEND=native python -m pytest`` would reach a test's throwaway install that has
no extension, and fail a test that is not wrong.  So a test never passes ``os.environ`` on
as it is: :func:`child_env` sets every variable edgekit reads (:data:`EDGEKIT_VARIABLES`) to
what the test means, by default to what this test process runs on.
"""

from __future__ import annotations

import os

from edgekit import _backend

__all__ = ["EDGEKIT_VARIABLES", "child_env"]

EDGEKIT_VARIABLES: tuple[str, ...] = (_backend.ENV_VAR,)
"""Every environment variable edgekit reads (``tests/test_backend.py`` checks this list
against edgekit's sources)."""


def child_env(backend: str | None = _backend.REQUESTED, **extra: str) -> dict[str, str]:
    """``os.environ`` for a child process, with the variables edgekit reads under control.

    Args:
        backend: ``EDGEKIT_BACKEND`` for the child; by default what this process asked for
            (so a child runs on the backend the suite runs on); ``None`` removes it (the
            child takes edgekit's default, ``auto``).
        extra: more variables to set (``PYTHONPATH``, ``CC``...).
    """
    env = {k: v for k, v in os.environ.items() if k not in EDGEKIT_VARIABLES}
    if backend is not None:
        env[_backend.ENV_VAR] = backend
    env.update(extra)
    return env

"""Hypothesis profiles: ``default`` for development, ``ci`` (picked when CI is set, or with
HYPOTHESIS_PROFILE=ci) with fewer examples and no deadline on a shared 2-core machine."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI")
                                                                 else "default"))

"""Hypothesis profiles for the suite.

``default`` (what ``make test`` uses) keeps the property tests to a few seconds each;
``pytest --hypothesis-profile=long`` searches far deeper (minutes), for a release or after a
kernel change. Tests that pin their own ``max_examples`` keep it under both profiles.
"""
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large])
settings.register_profile("default", max_examples=40, **_COMMON)
settings.register_profile("long", max_examples=2000, **_COMMON)
settings.load_profile("default")

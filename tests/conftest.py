"""Suite-wide options and hypothesis profiles.

``default`` (what ``make test`` uses) keeps the property tests to a few seconds each and the
small-shape sweeps to a few hundred configurations. ``pytest --long`` sweeps thousands of
configurations and loads the ``long`` hypothesis profile (minutes: for a release or after a
kernel change); ``--hypothesis-profile=long`` deepens the property tests alone. Tests that pin
their own ``max_examples`` keep it under both profiles.
"""
import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large])
settings.register_profile("default", max_examples=40, **_COMMON)
settings.register_profile("long", max_examples=2000, **_COMMON)
settings.load_profile("default")


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true", default=False,
                     help="sweep thousands of small-shape configurations and run the "
                          "property tests under the 'long' hypothesis profile")


def pytest_configure(config):
    if config.getoption("--long"):
        settings.load_profile("long")


@pytest.fixture(scope="session")
def sweep_size(request):
    """Configurations per sweep test: a few seconds by default, thousands with --long."""
    return 2000 if request.config.getoption("--long") else None

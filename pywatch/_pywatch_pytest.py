"""The wheel's pytest11 entry point: pywatch.pytest_plugin, or a warning.

pytest loads an installed entry point into every run of its environment,
the runs of projects that never use pywatch included.  A pywatch that cannot
be imported (its libuv missing) would take its submodule
pywatch.pytest_plugin down with it, and every such run at start-up.  So the
wheel installs this module beside the package, not in it: it loads the
plugin, or, when pywatch cannot be imported, says so in a warning and keeps
the plugin's option and marker known (a --pywatch=off in an ini file,
--strict-markers), while the tests that use the fixture or the marker fail
with the reason.
"""
import pytest

try:
    from pywatch.pytest_plugin import (pytest_addoption, pytest_configure,
                                       pytest_runtest_call,
                                       pytest_unconfigure, pywatch_patch)
except ImportError as error:
    _ERROR = error

    def pytest_addoption(parser):
        parser.addoption("--pywatch", choices=("off", "on"), default="off",
                         help="pywatch's freezing during the session "
                              "(inactive: pywatch cannot be imported)")

    def pytest_configure(config):
        config.addinivalue_line(
            "markers", "pywatch_frozen: run the test with freezing on "
                       "(inactive: pywatch cannot be imported)")
        config.issue_config_time_warning(pytest.PytestConfigWarning(
            "pywatch's pytest plugin is inactive: %s" % _ERROR),
            stacklevel=2)

    def _unavailable():
        raise ImportError("pywatch cannot be imported: %s" % _ERROR)

    def pytest_runtest_setup(item):
        if item.get_closest_marker("pywatch_frozen") is not None:
            _unavailable()

    @pytest.fixture
    def pywatch_patch():
        _unavailable()

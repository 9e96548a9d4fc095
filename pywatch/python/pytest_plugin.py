"""pywatch's pytest plugin: `pytest -p pywatch.pytest_plugin`.

- Test mode for the whole session: freezing is off, as pywatch.disable()
  makes it, so that monkeypatch and mock.patch work on modules that the
  application freezes at import.  `--pywatch=on` keeps freezing on.
- The `pywatch_patch` fixture: pywatch_patch(obj, name, value) patches
  through pywatch.patch(), frozen or not, and is undone at teardown.
- The `pywatch_frozen` marker: the test itself (not its fixtures' set-up
  and teardown, nor a unittest.TestCase's setUp, tearDown and cleanups)
  runs with freezing really on, so that what the application froze is
  frozen; afterwards, what freeze() was asked is as before.
"""
import contextlib
import functools
import inspect
import unittest

import pytest

import pywatch
from pywatch import _freeze

# Whether freezing was on before the session, put back at its end.
_WAS_ENABLED = pytest.StashKey[bool]()


def pytest_addoption(parser):
    parser.addoption(
        "--pywatch", choices=("off", "on"), default="off",
        help="freezing during the session: off (test mode, the default) or "
             "on (as in production)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pywatch_frozen: run the test with freezing on")
    config.stash[_WAS_ENABLED] = pywatch.enabled()
    if config.getoption("pywatch") == "on":
        pywatch.enable()
    else:
        pywatch.disable()


def pytest_unconfigure(config):
    was = config.stash.get(_WAS_ENABLED, None)
    if was is True:
        pywatch.enable()
    elif was is False:
        pywatch.disable()


@pytest.fixture
def pywatch_patch():
    """pywatch_patch(obj, name, value, *, create=False): pywatch.patch()
    until the test ends; returns value."""
    active = []

    def patch(obj, name, value, *, create=False):
        p = pywatch.patch(obj, name, value, create=create)
        p.__enter__()
        active.append(p)
        return value
    yield patch
    while active:  # the last patch first, as monkeypatch undoes
        active.pop().__exit__(None, None, None)


@contextlib.contextmanager
def _freezing():
    """Freezing on, and afterwards as before, whatever was frozen or thawed
    meanwhile."""
    was = pywatch.enabled()
    saved = _freeze._saved_requests()
    pywatch.enable()
    try:
        yield
    finally:
        pywatch.disable()
        _freeze._restore_requests(saved)
        if was:
            pywatch.enable()


def _frozen_method(method):
    """method, run with freezing on; a coroutine function stays one, since
    unittest's IsolatedAsyncioTestCase awaits it."""
    if inspect.iscoroutinefunction(method):
        async def frozen(*args, **kwargs):
            with _freezing():
                return await method(*args, **kwargs)
    else:
        def frozen(*args, **kwargs):
            with _freezing():
                return method(*args, **kwargs)
    # Carries unittest's marks (skip, expectedFailure) in its __dict__.
    return functools.wraps(method)(frozen)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if item.get_closest_marker("pywatch_frozen") is None:
        yield
        return
    cls = getattr(item, "cls", None)
    if cls is None or not issubclass(cls, unittest.TestCase):
        with _freezing():
            yield
        return
    # A TestCase runs setUp, the method, tearDown and the cleanups all in
    # this one call: the method alone is frozen.  pytest stores item.obj
    # on the instance for a plain method, unittest looks an async one up
    # on the instance: both are given the frozen one.
    method, instance = item.obj, item.instance
    frozen = _frozen_method(method)
    item.obj = frozen
    setattr(instance, item.name, frozen)
    try:
        yield
    finally:
        item.obj = method
        instance.__dict__.pop(item.name, None)

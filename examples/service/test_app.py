"""The app's test suite: plain unittest.mock.patch on app modules.  It runs
with freezing switched off (PYWATCH_DISABLE=1 or -X pywatch=off), against
the same startup code that freezes in production."""
import unittest
from unittest import mock

import pywatch
from app import config, handlers, startup


def setUpModule():
    startup.start()


class TestHandlers(unittest.TestCase):
    def test_freezing_is_off(self):
        self.assertFalse(pywatch.enabled())
        # Asked for at startup, not in force.
        self.assertTrue(pywatch.is_frozen(config))

    def test_greeting(self):
        self.assertEqual(handlers.handle("/"), (200, "hello, world!"))

    def test_mock_patch_module_attribute(self):
        with mock.patch("app.config.TIMEOUT", 0.5):
            self.assertEqual(handlers.timeout(), 0.5)
        self.assertEqual(handlers.timeout(), 2.5)

    def test_mock_patch_object_and_class(self):
        with mock.patch.object(config.Limits, "max_body", 3):
            self.assertEqual(handlers.handle("/long"), (413, "too long"))
        with mock.patch.object(handlers, "_template", return_value="{who}"):
            self.assertEqual(handlers.handle("/", "x"), (200, "x"))

    def test_pywatch_patch_works_too(self):
        with pywatch.patch(config, "GREETING", "hi"):
            self.assertEqual(config.GREETING, "hi")
        self.assertEqual(config.GREETING, "hello")


if __name__ == "__main__":
    unittest.main()

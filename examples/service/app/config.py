"""Settings, read once at startup and never written again."""
import os

TIMEOUT = float(os.environ.get("APP_TIMEOUT", "2.5"))
GREETING = "hello"


class Limits:
    max_body = 1024

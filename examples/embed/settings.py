"""The module whose constants the demo compiles."""
TIMEOUT = 30

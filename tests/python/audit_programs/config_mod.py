"""Settings that programs patch after import."""
DEBUG = False
LEVEL = 1
OLD = "to be deleted"
last = None

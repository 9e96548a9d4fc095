"""The settings of prog_service.py, set at its startup."""
DEBUG = False
TIMEOUT = 1.0

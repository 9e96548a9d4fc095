"""Request handlers."""
from . import config

_templates = None   # lazily built: allowed after freezing (see startup)
last_path = None    # a latent bug: written after startup by handle()


def _template(name):
    global _templates
    if _templates is None:
        _templates = {"greet": "%s, {who}!" % config.GREETING}
    return _templates[name]


def handle(path, who="world"):
    global last_path
    last_path = path  # STORE_GLOBAL into a frozen module: reported
    if len(path) > config.Limits.max_body:
        return 413, "too long"
    return 200, _template("greet").format(who=who)


def timeout():
    return config.TIMEOUT

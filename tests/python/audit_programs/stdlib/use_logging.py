"""logging: basicConfig, loggers, handlers, formatters, captureWarnings,
dictConfig."""
import io
import logging
import logging.config
import warnings

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s",
                    stream=io.StringIO())
log = logging.getLogger("app")
stream = io.StringIO()
handler = logging.StreamHandler(stream)
handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
log.addHandler(handler)
log.info("hello %s", "world")
log.debug("hidden")
logging.captureWarnings(True)
warnings.warn("careful")
logging.captureWarnings(False)
logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,
                           "loggers": {"app.sub": {"level": "WARNING"}}})
logging.getLogger("app.sub").warning("sub")
print(stream.getvalue(), end="")
logging.shutdown()

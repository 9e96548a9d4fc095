"""One face for CPython's subinterpreters, for the tests that run pywatch in
them: concurrent.interpreters on 3.14 and later (isolated interpreters
only), _interpreters on 3.13 (and on 3.14 and later for legacy ones, which
concurrent.interpreters does not make), _xxsubinterpreters on 3.12.

An isolated interpreter has its own GIL (PEP 684); a legacy one shares the
main interpreter's.  run() raises Failed with the subinterpreter's own
traceback text when its code raises."""
import sys
import textwrap

try:
    import concurrent.interpreters as high
except ImportError:
    high = None
if sys.version_info >= (3, 13):
    import _interpreters as low
else:
    import _xxsubinterpreters as low


class Failed(Exception):
    pass


class Interpreter:
    def __init__(self, isolated=True):
        self._high = None
        if isolated and high is not None:
            self._high = high.create()
            self.id = self._high.id
        elif sys.version_info >= (3, 13):
            self.id = low.create("isolated" if isolated else "legacy")
        else:
            self.id = low.create(isolated=isolated)

    def run(self, code):
        """Runs code in the interpreter's __main__; returns when it ends,
        the calling thread running it there meanwhile."""
        code = textwrap.dedent(code)
        if self._high is not None:
            try:
                self._high.exec(code)
            except high.ExecutionFailed as e:
                raise Failed(str(e)) from None
        elif hasattr(low, "exec"):
            failure = low.exec(self.id, code)
            if failure is not None:
                raise Failed(getattr(failure, "formatted", None)
                             or "%s: %s" % (failure.type, failure.msg))
        else:
            try:
                low.run_string(self.id, code)
            except Exception as e:  # RunFailedError on 3.12
                raise Failed(str(e)) from None

    def close(self):
        if self._high is not None:
            self._high.close()
        else:
            low.destroy(self.id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

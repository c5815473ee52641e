"""The case runner of the Python test scripts (serve_test.py,
structured_test.py): case(name) used as a decorator runs the function at
once and prints "ok NAME" or "not ok NAME: why", the lines tests/run.sh
counts.  A failed assertion or an exception fails only its own case."""
import traceback


class Cases:
    def __init__(self, message_limit=400):
        self.failures = 0
        self.limit = message_limit

    def case(self, name):
        def run(fn):
            try:
                fn()
                print("ok " + name, flush=True)
            except AssertionError as e:
                self.failures += 1
                print("not ok %s: %s" % (name, str(e)[:self.limit] or "assertion failed"), flush=True)
            except Exception as e:  # noqa: BLE001 - a crash in a case is that case's failure
                self.failures += 1
                tb = traceback.format_exc().strip().splitlines()
                print("not ok %s: %s: %s (%s)" % (name, type(e).__name__, str(e)[:300], tb[-3][:200] if len(tb) > 2 else ""),
                      flush=True)
        return run

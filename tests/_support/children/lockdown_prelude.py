"""What every lockdown child starts with: ``P``, the JSON parameters in argv[1];
``attempt(fn, *a)``, which returns "ok" or the errno name of the OSError fn raised
(closing what it returned); and ``done(**out)``, which prints OUT as JSON.

The lockdown_* programs import it; tests/python/test_lockdown_runtime.py also
prefixes its text to the few children that must run as ``python -c``.
"""
import errno
import json
import sys

P = json.loads(sys.argv[1])


def attempt(fn, *a, **k):
    try:
        r = fn(*a, **k)
        if hasattr(r, "close"):
            r.close()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def done(**out):
    print(json.dumps(out))


def older_thread_opens(lock, path):
    """Starts a thread, calls LOCK() (a lockdown) in this one, then has that older
    thread open PATH: returns (LOCK's result, the older thread's attempt)."""
    import queue
    import threading

    jobs, results = queue.Queue(), queue.Queue()

    def worker():
        while (job := jobs.get()) is not None:
            results.put(attempt(open, job))

    t = threading.Thread(target=worker)
    t.start()
    try:
        r = lock()
        jobs.put(path)
        return r, results.get()
    finally:
        jobs.put(None)
        t.join()

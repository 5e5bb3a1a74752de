"""Record metrics from inside a trainyard job.

This module uses only the Python standard library. A trainyard node places it on
PYTHONPATH, so a training script can simply do::

    import trainyard_run

    trainyard_run.log("train_loss", 0.42, step=3)
    trainyard_run.log_metrics({"train_accuracy": 0.91, "test_accuracy": 0.89}, step=3)

Every metric is also printed to stdout as ``metric NAME=VALUE`` (followed by
``(step N)`` when a step is given), so it appears in the job's log.

Inside a job, trainyard sets TRAINYARD_API (base URL of the server) and
TRAINYARD_RUN_TOKEN (a bearer token for this job). The metrics are POSTed to
``$TRAINYARD_API/v1/run/metrics``. When either variable is unset, for example
when the script runs on a laptop, the metrics are only printed and no thread is
started.

log() and log_metrics() never wait for the network. Invalid arguments (an
empty or overlong name, a value that is not a finite number, a negative step)
raise ValueError straight away, since they are mistakes in the calling code;
a valid call prints its metrics and hands them, as one batch, to a single
background thread that sends the batches one by one, in the order they were
logged. A process that forks (a DataLoader worker, for instance) gets a sender
of its own for what it logs itself; what the parent had queued stays the
parent's to send.

Sending never raises into the caller. Transient failures (the server cannot be
reached, a timeout, a 5xx or 429 answer, as while the server restarts) are
retried with exponential backoff (0.25 s, doubling up to 5 s between attempts)
for up to ten minutes from when the batch was logged; after that the batch is
given up with one warning line on stderr naming its metrics. Any other answer
(a 4xx) is not retried: its batch is dropped with one warning line quoting the
server, and later batches are still sent.

At most MAX_QUEUED_METRICS (100,000) metrics wait to be sent. When that many are
waiting, log() blocks until the sender makes room (a batch is stored or given
up) rather than drop anything it has accepted; one warning line says so.

flush(timeout) waits until everything logged so far was sent or given up on.
It also runs when the interpreter exits normally (atexit, and at the end of a
multiprocessing child), waiting at most TRAINYARD_METRICS_FLUSH_TIMEOUT seconds
(default 60); metrics still unsent then are counted in one warning line. A
process that ends with os._exit() or is killed does not flush: call flush()
first.

Requests go straight to TRAINYARD_API, ignoring any HTTP(S)_PROXY settings in
the environment, and redirects are not followed, so the token only ever goes to
that address; the token never appears in a warning.
"""

import atexit
import collections
import json
import math
import numbers
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

__all__ = ["log", "log_metrics", "flush"]

API_ENV = "TRAINYARD_API"
TOKEN_ENV = "TRAINYARD_RUN_TOKEN"
FLUSH_TIMEOUT_ENV = "TRAINYARD_METRICS_FLUSH_TIMEOUT"
METRICS_PATH = "/v1/run/metrics"
MAX_NAME_LENGTH = 255
# Most metrics waiting to be sent; log() blocks for room beyond this.
MAX_QUEUED_METRICS = 100_000

# First pause after a transient failure, doubled after each further one up to
# _BACKOFF_MAX, in seconds. The pause carries over from one batch to the next
# and starts again from _BACKOFF_START after an answer from the server.
_BACKOFF_START = 0.25
_BACKOFF_MAX = 5.0
# How long after it was logged a batch may still be retried, in seconds.
_RETRY_WINDOW = 600.0
# Upper bound on a single HTTP attempt.
_ATTEMPT_TIMEOUT = 5.0
# Default wait at exit, in seconds (TRAINYARD_METRICS_FLUSH_TIMEOUT overrides it).
_DEFAULT_FLUSH_TIMEOUT = 60.0
# After this long waiting at exit, say why the process does not end yet.
_EXIT_NOTICE_AFTER = 1.0
# Longest server message quoted in a warning.
_MAX_MESSAGE = 300


def log(name, value, step=None):
    """Record one metric, e.g. ``log("train_loss", 0.31, step=2)``.

    name: a non-empty string of at most 255 characters.
    value: a finite int or float (bool is refused).
    step: None or a non-negative int, usually the epoch or iteration.
    """
    log_metrics({name: value}, step=step)


def log_metrics(metrics, step=None):
    """Record several metrics that share one step, e.g.
    ``log_metrics({"loss": 0.3, "accuracy": 0.9}, step=2)``.

    All entries are checked before anything is printed or sent; the first
    invalid one raises ValueError. An empty mapping does nothing. The metrics
    are sent in the background; see flush().
    """
    if not hasattr(metrics, "items"):
        raise ValueError(
            "trainyard_run.log_metrics expects a dict of name -> value, got %s"
            % type(metrics).__name__
        )
    step = _check_step(step)
    entries = []
    for name, value in metrics.items():
        _check_name(name)
        entries.append((name, _check_value(name, value)))
    if not entries:
        return

    for name, value in entries:
        _print_metric(name, value, step)

    api = os.environ.get(API_ENV, "").strip()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not api or not token:
        return  # Outside trainyard: printing is all there is to do.

    _enqueue(api, token, entries, step)


def flush(timeout=60.0):
    """Wait until every metric logged so far in this process was sent, or given
    up on after its retries. Returns True when that happened within timeout
    seconds (None: no limit), False when some are still waiting; those stay
    queued and are still sent later.
    """
    return _current_sender().wait_done(timeout)


# --- validation ---------------------------------------------------------------


def _check_name(name):
    if not isinstance(name, str):
        raise ValueError(
            "metric name must be a string, got %s" % type(name).__name__
        )
    if not name:
        raise ValueError("metric name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            "metric name is %d characters long; at most %d are allowed: %.40r..."
            % (len(name), MAX_NAME_LENGTH, name)
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(
            "metric name %r contains a control character (such as a newline)" % name
        )


def _is_boolish(value):
    # bool, and numpy.bool_ without importing numpy.
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool8")


def _check_value(name, value):
    if _is_boolish(value):
        raise ValueError(
            "metric %r: value must be a number, not a bool (got %r)" % (name, value)
        )
    if isinstance(value, (str, bytes, bytearray)):
        raise ValueError(
            "metric %r: value must be a number, not %s (got %r)"
            % (name, type(value).__name__, value)
        )
    if not isinstance(value, numbers.Real) and not hasattr(value, "__float__"):
        raise ValueError(
            "metric %r: value must be a number, got %s" % (name, type(value).__name__)
        )
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(
            "metric %r: value %r cannot be turned into a float: %s" % (name, value, exc)
        ) from None
    if not math.isfinite(number):
        raise ValueError(
            "metric %r: value must be finite, got %r" % (name, number)
        )
    return number


def _check_step(step):
    if step is None:
        return None
    if _is_boolish(step) or not isinstance(step, numbers.Integral):
        raise ValueError(
            "step must be None or an int, got %s (%r)" % (type(step).__name__, step)
        )
    step = int(step)
    if step < 0:
        raise ValueError("step must not be negative, got %d" % step)
    return step


# --- output -------------------------------------------------------------------


def _print_metric(name, value, step):
    line = "metric %s=%r" % (name, value)
    if step is not None:
        line += " (step %d)" % step
    print(line, flush=True)


def _warn(batch, problem, suffix=""):
    names = [n for n, _ in batch.entries]
    what = "metric " + names[0] if len(names) == 1 else "metrics " + ", ".join(names)
    if batch.step is not None:
        what += " (step %d)" % batch.step
    text = " ".join(str(problem).split())  # one line
    if batch.token:
        text = text.replace(batch.token, "[redacted]")
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    _note("warning: could not record %s: %s%s" % (what, text, suffix))


def _note(text):
    print("trainyard_run: " + text, file=sys.stderr, flush=True)


def _gave_up():
    window = _RETRY_WINDOW
    if window >= 60:
        return "; gave up after retrying for %g min" % (window / 60)
    return "; gave up after retrying for %g s" % window


# --- background sending -------------------------------------------------------


class _Batch:
    """One log()/log_metrics() call on its way to the server."""

    __slots__ = ("api", "token", "entries", "step", "deadline")

    def __init__(self, api, token, entries, step, deadline):
        self.api = api
        self.token = token
        self.entries = entries  # [(name, float)]
        self.step = step
        self.deadline = deadline  # time.monotonic() after which it is given up


class _Sender:
    """The queue of batches of one process and the thread that sends them."""

    def __init__(self):
        self.pid = os.getpid()
        self.cond = threading.Condition(threading.Lock())
        self.queue = collections.deque()  # the head is the batch being sent
        self.queued_metrics = 0  # entries in self.queue
        self.logged = 0  # batches ever queued
        self.done = 0  # batches sent or given up
        self.thread = None
        self.full_warned = False
        # Touched by the sending thread only.
        self.pause = _BACKOFF_START
        self.failing = None  # last transient problem while the server is away

    # --- called by the user's threads

    def put(self, batch):
        n = len(batch.entries)
        with self.cond:
            # A batch bigger than the whole bound still goes in once the queue is empty.
            while self.queued_metrics and self.queued_metrics + n > MAX_QUEUED_METRICS:
                if not self.full_warned:
                    self.full_warned = True
                    _note(
                        "%d metrics are waiting to be sent to the trainyard server; "
                        "log() waits for room until the sender catches up"
                        % self.queued_metrics
                    )
                if not self._start_locked():
                    break  # Nobody would ever make room.
                self.cond.wait(0.5)
            self.queue.append(batch)
            self.queued_metrics += n
            self.logged += 1
            started = self._start_locked()
            self.cond.notify_all()
        if not started:
            _note("cannot start the thread that sends metrics; sending in the foreground")
            self._drain_here()

    def wait_done(self, timeout):
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        with self.cond:
            target = self.logged
            while self.done < target:
                if deadline is None:
                    self.cond.wait(1.0)
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self.cond.wait(min(left, 1.0))
                if self.done < target and not self._start_locked():
                    return False
            return True

    def unsent(self):
        with self.cond:
            return self.queued_metrics

    def _start_locked(self):
        """Make sure the sending thread runs; False if it cannot be started."""
        if self.thread is not None and self.thread.is_alive():
            return True
        thread = threading.Thread(target=self._run, name="trainyard_run-sender", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # e.g. at interpreter shutdown, or out of threads
            self.thread = None
            return False
        self.thread = thread
        _flush_at_multiprocessing_exit()
        return True

    def _drain_here(self):
        # Last resort when no thread can be started: send in the caller, briefly.
        cap = time.monotonic() + 10.0
        with self.cond:
            if self.thread is not None and self.thread.is_alive():
                return
            pending = list(self.queue)
        for batch in pending:
            batch.deadline = min(batch.deadline, cap)
            self._send_one(batch)

    # --- the sending thread

    def _run(self):
        while True:
            with self.cond:
                while not self.queue:
                    self.cond.wait()
                batch = self.queue[0]
            self._send_one(batch)

    def _send_one(self, batch):
        try:
            self._deliver(batch)
        except Exception as exc:  # Never let a reporting bug stop the sender.
            try:
                _warn(batch, "unexpected %s: %s" % (type(exc).__name__, exc))
            except Exception:
                pass
        self._finish(batch)

    def _finish(self, batch):
        with self.cond:
            if self.queue and self.queue[0] is batch:
                self.queue.popleft()
                self.queued_metrics -= len(batch.entries)
                self.done += 1
                if not self.queue:
                    self.full_warned = False
                self.cond.notify_all()

    def _deliver(self, batch):
        """Send one batch, retrying transient failures until its deadline."""
        url = batch.api.rstrip("/") + METRICS_PATH
        if not url.lower().startswith(("http://", "https://")):
            _warn(batch, "%s must be an http:// or https:// URL, got %r" % (API_ENV, batch.api))
            return
        if self.failing is not None and time.monotonic() >= batch.deadline:
            # The server has been away for longer than this batch may wait.
            _warn(batch, self.failing, _gave_up())
            return
        payload = {
            "metrics": [
                {"name": n, "value": v, "step": batch.step} for n, v in batch.entries
            ]
        }
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
        headers = {
            "Authorization": "Bearer " + batch.token,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "trainyard_run",
        }
        while True:
            remaining = batch.deadline - time.monotonic()
            timeout = max(0.5, min(_ATTEMPT_TIMEOUT, remaining))
            problem, retry = _attempt(url, body, headers, timeout)
            if not retry:  # The server answered: stored, or refused for good.
                self.failing = None
                self.pause = _BACKOFF_START
                if problem is not None:
                    _warn(batch, problem)
                return
            self.failing = problem
            remaining = batch.deadline - time.monotonic()
            if remaining <= 0:
                _warn(batch, problem, _gave_up())
                return
            pause = min(self.pause, remaining)
            self.pause = min(self.pause * 2, _BACKOFF_MAX)
            time.sleep(pause)


_sender = _Sender()
_sender_lock = threading.Lock()


def _current_sender():
    """This process's sender (a forked child gets a fresh, empty one)."""
    global _sender
    sender = _sender
    if sender.pid == os.getpid():
        return sender
    with _sender_lock:
        if _sender.pid != os.getpid():
            _sender = _Sender()
        return _sender


def _after_fork_in_child():
    # The parent's lock may have been held at fork time and its thread does not
    # exist here; its queued batches stay the parent's to send.
    global _sender, _sender_lock
    _sender_lock = threading.Lock()
    _sender = _Sender()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _enqueue(api, token, entries, step):
    batch = _Batch(api, token, entries, step, time.monotonic() + _RETRY_WINDOW)
    _current_sender().put(batch)


def _flush_timeout():
    raw = os.environ.get(FLUSH_TIMEOUT_ENV, "").strip()
    if not raw:
        return _DEFAULT_FLUSH_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        _note("ignoring %s=%r (not a number of seconds)" % (FLUSH_TIMEOUT_ENV, raw))
        return _DEFAULT_FLUSH_TIMEOUT
    return value


def _flush_at_exit():
    """Give queued metrics a chance to reach the server before the process ends."""
    global _exit_timed_out_pid
    try:
        sender = _current_sender()
        if not sender.unsent() or _exit_timed_out_pid == os.getpid():
            return  # Nothing to wait for, or the other exit hook waited already.
        timeout = _flush_timeout()
        if sender.wait_done(min(timeout, _EXIT_NOTICE_AFTER)):
            return
        if timeout > _EXIT_NOTICE_AFTER:
            _note(
                "sending %d queued metrics before exit (waiting up to %g s)"
                % (sender.unsent(), timeout)
            )
            if sender.wait_done(timeout - _EXIT_NOTICE_AFTER):
                return
        left = sender.unsent()
        if left:
            _exit_timed_out_pid = os.getpid()
            _note(
                "warning: %d metric%s not sent to the trainyard server before exit"
                % (left, " was" if left == 1 else "s were")
            )
    except Exception:
        pass  # Never turn a normal exit into a traceback.


_exit_timed_out_pid = None
_mp_finalizer_pid = None
atexit.register(_flush_at_exit)


def _flush_at_multiprocessing_exit():
    # multiprocessing children started by fork end with os._exit(), which skips
    # atexit; their own exit hook runs registered finalizers first.
    global _mp_finalizer_pid
    if _mp_finalizer_pid == os.getpid() or "multiprocessing" not in sys.modules:
        return
    try:
        import multiprocessing
        import multiprocessing.util

        if multiprocessing.parent_process() is None:
            return
        multiprocessing.util.Finalize(None, _flush_at_exit, exitpriority=100)
        _mp_finalizer_pid = os.getpid()
    except Exception:
        pass


# --- transport ----------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects so the bearer token is never sent to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# Talk to the server directly: proxy settings in the job's environment (often set
# for downloading data) must neither divert the metrics nor see the token.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _attempt(url, body, headers, timeout):
    """One POST. Returns (problem or None, whether a retry may help)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read()
            return None, False
    except urllib.error.HTTPError as err:
        try:
            raw = err.read()
        except Exception:
            raw = b""
        finally:
            err.close()
        status = err.code
        problem = "server answered %d: %s" % (status, _error_message(raw, err.reason))
        return problem, status >= 500 or status == 429
    except urllib.error.URLError as err:
        return "cannot reach the trainyard server: %s" % (err.reason,), True
    except (socket.timeout, TimeoutError):
        return "the trainyard server did not answer within %.1fs" % timeout, True
    except (ConnectionError, OSError) as err:
        return "connection to the trainyard server failed: %s" % (err,), True


def _error_message(raw, reason):
    """Pull the message out of {"error":{"code":...,"message":...}}, if present."""
    text = raw.decode("utf-8", "replace").strip() if raw else ""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        err = doc["error"]
        message = str(err.get("message") or "").strip()
        code = str(err.get("code") or "").strip()
        if message and code:
            return "%s (%s)" % (message, code)
        if message or code:
            return message or code
    return text or str(reason or "no message")

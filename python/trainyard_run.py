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
when the script runs on a laptop, the metrics are only printed.

Requests go straight to TRAINYARD_API, ignoring any HTTP(S)_PROXY settings in
the environment, and redirects are not followed, so the token only ever goes to
that address. Sending never raises into the caller: transient failures (the server cannot be
reached, a timeout, a 5xx or 429 answer) are retried a few times within about
ten seconds, and if the metrics still cannot be stored one warning line is
written to stderr. Invalid arguments (an empty or overlong name, a value that
is not a finite number, a negative step) raise ValueError straight away, since
they are mistakes in the calling code.
"""

import json
import math
import numbers
import os
import socket
import sys
import time
import urllib.error
import urllib.request

__all__ = ["log", "log_metrics"]

API_ENV = "TRAINYARD_API"
TOKEN_ENV = "TRAINYARD_RUN_TOKEN"
METRICS_PATH = "/v1/run/metrics"
MAX_NAME_LENGTH = 255

# Pauses between attempts, in seconds; one attempt more than there are pauses.
_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)
# Upper bound on the time spent sending one batch, sleeps included.
_TOTAL_BUDGET = 9.0
# Upper bound on a single HTTP attempt.
_ATTEMPT_TIMEOUT = 5.0
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
    invalid one raises ValueError. An empty mapping does nothing.
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

    payload = {
        "metrics": [{"name": n, "value": v, "step": step} for n, v in entries]
    }
    try:
        problem = _send(api, token, payload)
    except Exception as exc:  # Never let a reporting bug break training.
        problem = "unexpected %s: %s" % (type(exc).__name__, exc)
    if problem:
        _warn([n for n, _ in entries], step, problem, token)


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


def _warn(names, step, problem, token):
    what = "metric " + names[0] if len(names) == 1 else "metrics " + ", ".join(names)
    if step is not None:
        what += " (step %d)" % step
    text = " ".join(str(problem).split())  # one line
    if token:
        text = text.replace(token, "[redacted]")
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    print(
        "trainyard_run: warning: could not record %s: %s" % (what, text),
        file=sys.stderr,
        flush=True,
    )


# --- transport ----------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects so the bearer token is never sent to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# Talk to the server directly: proxy settings in the job's environment (often set
# for downloading data) must neither divert the metrics nor see the token.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _send(api, token, payload):
    """POST payload; return None on success or a one-line problem description."""
    url = api.rstrip("/") + METRICS_PATH
    if not url.lower().startswith(("http://", "https://")):
        return "%s must be an http:// or https:// URL, got %r" % (API_ENV, api)
    body = json.dumps(payload, allow_nan=False).encode("utf-8")
    headers = {
        "Authorization": "Bearer " + token,
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": "trainyard_run",
    }
    deadline = time.monotonic() + _TOTAL_BUDGET
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        problem, retry = _attempt(
            url, body, headers, max(0.5, min(_ATTEMPT_TIMEOUT, remaining))
        )
        if problem is None:
            return None
        if not retry or attempt >= len(_RETRY_DELAYS):
            return problem
        pause = _RETRY_DELAYS[attempt]
        if time.monotonic() + pause >= deadline:
            return problem
        attempt += 1
        time.sleep(pause)


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

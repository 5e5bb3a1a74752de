"""Tests for trainyard_run against a real HTTP server on 127.0.0.1.

Run with:  cd python && python3 -m unittest -v test_trainyard_run
"""

import contextlib
import http.server
import io
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
import types
import unittest
from unittest import mock

import trainyard_run

TOKEN = "tok-secret-0123456789"
HERE = os.path.dirname(os.path.abspath(__file__))


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        server = self.server
        if server.delay:
            time.sleep(server.delay)
        with server.lock:
            server.requests.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body,
                    "time": time.monotonic(),
                }
            )
            if time.monotonic() < server.down_until:
                status, payload, extra = 503, _error("unavailable", "restarting"), {}
            elif server.replies:
                status, payload, extra = server.replies.pop(0)
            else:
                status, payload, extra = 204, None, {}
            if 200 <= status < 300:
                server.accepted.extend(json.loads(body)["metrics"])
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for key, value in extra.items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, *args):  # keep test output quiet
        pass


def _error(code, message):
    return {"error": {"code": code, "message": message}}


def _free_port():
    """A port with nothing listening on it (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sender_threads():
    return {t for t in threading.enumerate() if t.name == "trainyard_run-sender"}


def _metric(name, value, step=None):
    return {"name": name, "value": value, "step": step}


class _FreshSender(unittest.TestCase):
    """Every test gets a sender of its own, with fast retries."""

    def setUp(self):
        for name, value in (
            ("_BACKOFF_START", 0.01),
            ("_BACKOFF_MAX", 0.05),
            ("_RETRY_WINDOW", 3.0),
        ):
            patcher = mock.patch.object(trainyard_run, name, value)
            patcher.start()
            self.addCleanup(patcher.stop)
        patcher = mock.patch.object(trainyard_run, "_sender", trainyard_run._Sender())
        patcher.start()
        self.addCleanup(patcher.stop)


class _ServerCase(_FreshSender):
    """Starts a fresh server per test; queue replies with self.reply(...)."""

    def setUp(self):
        super().setUp()
        self.server = self.start_server()
        host, port = self.server.server_address
        self.api = "http://%s:%d" % (host, port)
        self.use_api(self.api)
        # Runs first: nothing may still be on its way when the test ends.
        self.addCleanup(self.assert_drained)

    def start_server(self, port=0):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        server.lock = threading.Lock()
        server.requests = []
        server.accepted = []
        server.replies = []
        server.down_until = 0.0
        server.delay = 0.0
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server

    def use_api(self, api):
        patcher = mock.patch.dict(
            os.environ, {"TRAINYARD_API": api, "TRAINYARD_RUN_TOKEN": TOKEN}
        )
        patcher.start()
        self.addCleanup(patcher.stop)

    def assert_drained(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            drained = trainyard_run.flush(10)
        self.assertTrue(drained, "metrics were still queued after the test")
        self.assertEqual(err.getvalue(), "", "unexpected warnings after the test")

    def reply(self, status, payload=None, headers=None):
        self.server.replies.append((status, payload, headers or {}))

    def call(self, fn, *args, **kwargs):
        """Call fn, then wait for the sender; return (result, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result = fn(*args, **kwargs)
            self.assertTrue(trainyard_run.flush(10), "flush() timed out")
        return result, out.getvalue(), err.getvalue()

    @property
    def requests(self):
        return self.server.requests


class SendTest(_ServerCase):
    def test_body_and_headers(self):
        self.reply(204)
        result, out, err = self.call(trainyard_run.log, "train_loss", 0.25, step=3)
        self.assertIsNone(result)
        self.assertEqual(err, "")
        self.assertEqual(out, "metric train_loss=0.25 (step 3)\n")
        self.assertEqual(len(self.requests), 1)
        req = self.requests[0]
        self.assertEqual(req["path"], "/v1/run/metrics")
        self.assertEqual(req["headers"].get("Authorization"), "Bearer " + TOKEN)
        self.assertEqual(req["headers"].get("Content-Type"), "application/json")
        self.assertEqual(
            json.loads(req["body"]),
            {"metrics": [{"name": "train_loss", "value": 0.25, "step": 3}]},
        )

    def test_no_step_is_null_and_int_becomes_float(self):
        self.reply(200, {"ok": True})
        _, out, err = self.call(trainyard_run.log, "epoch_seconds", 7)
        self.assertEqual(err, "")
        self.assertEqual(out, "metric epoch_seconds=7.0\n")
        body = json.loads(self.requests[0]["body"])
        self.assertEqual(body, {"metrics": [{"name": "epoch_seconds", "value": 7.0, "step": None}]})
        self.assertIsInstance(body["metrics"][0]["value"], float)

    def test_log_metrics_sends_one_request(self):
        self.reply(204)
        _, out, err = self.call(
            trainyard_run.log_metrics, {"train_accuracy": 0.9, "test_accuracy": 0.875}, step=2
        )
        self.assertEqual(err, "")
        self.assertEqual(
            out,
            "metric train_accuracy=0.9 (step 2)\nmetric test_accuracy=0.875 (step 2)\n",
        )
        self.assertEqual(len(self.requests), 1)
        self.assertEqual(
            json.loads(self.requests[0]["body"])["metrics"],
            [
                {"name": "train_accuracy", "value": 0.9, "step": 2},
                {"name": "test_accuracy", "value": 0.875, "step": 2},
            ],
        )

    def test_trailing_slash_in_api(self):
        os.environ["TRAINYARD_API"] = self.api + "/"
        self.reply(204)
        self.call(trainyard_run.log, "x", 1.0)
        self.assertEqual(self.requests[0]["path"], "/v1/run/metrics")

    def test_empty_dict_does_nothing(self):
        before = _sender_threads()
        _, out, err = self.call(trainyard_run.log_metrics, {})
        self.assertEqual((out, err), ("", ""))
        self.assertEqual(self.requests, [])
        self.assertEqual(_sender_threads(), before)

    def test_retry_after_503_then_success(self):
        self.reply(503, _error("unavailable", "store is busy"))
        self.reply(204)
        _, out, err = self.call(trainyard_run.log, "train_loss", 1.5, step=0)
        self.assertEqual(err, "")
        self.assertEqual(out, "metric train_loss=1.5 (step 0)\n")
        self.assertEqual(len(self.requests), 2)
        self.assertEqual(self.requests[0]["body"], self.requests[1]["body"])

    def test_retry_after_429_then_success(self):
        self.reply(429, _error("resource_exhausted", "slow down"))
        _, _, err = self.call(trainyard_run.log, "train_loss", 1.5)
        self.assertEqual(err, "")
        self.assertEqual(len(self.requests), 2)

    def test_persistent_5xx_warns_after_retry_window(self):
        for _ in range(1000):
            self.reply(500, _error("internal", "database is locked"))
        with mock.patch.object(trainyard_run, "_RETRY_WINDOW", 0.3):
            start = time.monotonic()
            result, out, err = self.call(trainyard_run.log, "train_loss", 1.5, step=4)
            elapsed = time.monotonic() - start
        self.server.replies.clear()
        self.assertIsNone(result)
        self.assertGreater(len(self.requests), 3)
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 2)
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn("train_loss (step 4)", lines[0])
        self.assertIn("database is locked", lines[0])
        self.assertIn("500", lines[0])
        self.assertIn("gave up after retrying for 0.3 s", lines[0])
        self.assertNotIn(TOKEN, err + out)

    def test_4xx_warns_without_retry_or_raise(self):
        self.reply(400, _error("invalid_argument", "metric name is reserved"))
        result, out, err = self.call(trainyard_run.log, "train_loss", 0.5, step=1)
        self.assertIsNone(result)
        self.assertEqual(len(self.requests), 1)
        self.assertEqual(out, "metric train_loss=0.5 (step 1)\n")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn("train_loss", lines[0])
        self.assertIn("metric name is reserved", lines[0])
        self.assertNotIn(TOKEN, err)

    def test_401_with_token_echoed_is_redacted(self):
        self.reply(401, _error("unauthenticated", "unknown run token " + TOKEN))
        _, out, err = self.call(trainyard_run.log, "loss", 0.1)
        self.assertEqual(len(self.requests), 1)
        self.assertIn("unknown run token", err)
        self.assertNotIn(TOKEN, err + out)

    def test_non_json_error_body(self):
        self.server.replies.append((404, None, {}))
        _, _, err = self.call(trainyard_run.log, "loss", 0.1)
        self.assertEqual(len(self.requests), 1)
        self.assertIn("404", err)
        self.assertIn("loss", err)

    def test_proxy_settings_are_ignored(self):
        dead = "http://127.0.0.1:%d" % _free_port()
        os.environ.update({"HTTP_PROXY": dead, "http_proxy": dead, "NO_PROXY": "", "no_proxy": ""})
        self.reply(204)
        _, _, err = self.call(trainyard_run.log, "loss", 0.1)
        self.assertEqual(err, "")
        self.assertEqual(len(self.requests), 1)

    def test_redirect_is_not_followed(self):
        # A followed 302 would turn into a second request (a GET) to /elsewhere.
        self.reply(302, None, {"Location": self.api + "/elsewhere"})
        self.reply(200, {})
        _, _, err = self.call(trainyard_run.log, "loss", 0.1)
        self.assertEqual([r["path"] for r in self.requests], ["/v1/run/metrics"])
        self.assertIn("302", err)


class BackgroundTest(_ServerCase):
    """log() hands batches to one background thread that keeps them in order."""

    def quietly(self, fn, *args, **kwargs):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            fn(*args, **kwargs)
        return out.getvalue(), err.getvalue()

    def test_server_restart_loses_nothing_and_keeps_order(self):
        # The server is down (nothing listens on its port) and comes back later.
        port = _free_port()
        self.use_api("http://127.0.0.1:%d" % port)
        expected = []

        def log_all():
            for step in range(10):
                trainyard_run.log("loss", step / 10, step=step)
                expected.append(_metric("loss", step / 10, step))
                trainyard_run.log_metrics({"acc": 0.5, "lr": 0.001}, step=step)
                expected.extend([_metric("acc", 0.5, step), _metric("lr", 0.001, step)])

        start = time.monotonic()
        out, err = self.quietly(log_all)
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 0.1, "log() waited for the network")
        self.assertEqual(len(out.splitlines()), 30)
        time.sleep(0.3)  # The sender keeps retrying meanwhile.
        server = self.start_server(port)
        err2 = io.StringIO()
        with contextlib.redirect_stderr(err2):
            self.assertTrue(trainyard_run.flush(10))
        self.assertEqual(err + err2.getvalue(), "")
        self.assertEqual(server.accepted, expected)
        self.assertEqual(len(server.requests), 20, "one request per batch once it is up")

    def test_log_does_not_wait_for_a_slow_server(self):
        self.server.delay = 0.5
        start = time.monotonic()
        out, err = self.quietly(trainyard_run.log, "loss", 0.5, step=1)
        self.assertLess(time.monotonic() - start, 0.1)
        self.assertEqual((out, err), ("metric loss=0.5 (step 1)\n", ""))
        self.assertTrue(trainyard_run.flush(5))
        self.assertEqual(self.server.accepted, [_metric("loss", 0.5, 1)])

    def test_flush_times_out_while_server_is_down(self):
        self.server.down_until = time.monotonic() + 0.8
        start = time.monotonic()
        self.quietly(trainyard_run.log, "loss", 0.25, step=7)
        self.assertLess(time.monotonic() - start, 0.1)
        start = time.monotonic()
        self.assertFalse(trainyard_run.flush(timeout=0.2))
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.2)
        self.assertLess(elapsed, 0.5)
        self.assertEqual(self.server.accepted, [])
        self.assertEqual(trainyard_run._sender.unsent(), 1)
        # Still queued: it goes once the server is back.
        self.assertTrue(trainyard_run.flush(5))
        self.assertEqual(self.server.accepted, [_metric("loss", 0.25, 7)])
        self.assertGreater(len(self.requests), 1)

    def test_flush_with_nothing_queued_returns_at_once(self):
        start = time.monotonic()
        self.assertTrue(trainyard_run.flush(0))
        self.assertTrue(trainyard_run.flush())
        self.assertLess(time.monotonic() - start, 0.05)

    def test_4xx_batch_is_dropped_and_later_batches_still_go(self):
        self.reply(400, _error("invalid_argument", "a job may log at most 50 metric names"))
        out, err = self.quietly(
            lambda: (
                trainyard_run.log("bad", 1.0, step=1),
                trainyard_run.log("good", 2.0, step=2),
                trainyard_run.log("also_good", 3.0),
                self.assertTrue(trainyard_run.flush(5)),
            )
        )
        self.assertEqual(len(self.requests), 3)
        self.assertEqual(self.server.accepted, [_metric("good", 2.0, 2), _metric("also_good", 3.0)])
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn("could not record metric bad (step 1)", lines[0])
        self.assertIn("at most 50 metric names", lines[0])

    def test_backoff_doubles_up_to_the_cap(self):
        self.server.down_until = time.monotonic() + 0.9
        with mock.patch.object(trainyard_run, "_BACKOFF_START", 0.05), mock.patch.object(
            trainyard_run, "_BACKOFF_MAX", 0.2
        ):
            trainyard_run._sender.pause = 0.05
            self.quietly(trainyard_run.log, "loss", 1.0)
            self.assertTrue(trainyard_run.flush(5))
        times = [r["time"] for r in self.requests]
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertGreaterEqual(len(gaps), 5, gaps)
        for gap, want in zip(gaps, [0.05, 0.1, 0.2, 0.2, 0.2, 0.2]):
            self.assertGreaterEqual(gap, want * 0.9, gaps)
            self.assertLess(gap, want + 0.15, gaps)
        self.assertEqual(self.server.accepted, [_metric("loss", 1.0)])

    def test_batches_past_their_window_are_given_up_without_waiting_again(self):
        # A slow, failing server: every further attempt would cost 0.25 s.
        self.server.down_until = time.monotonic() + 0.9
        self.server.delay = 0.25
        with mock.patch.object(trainyard_run, "_RETRY_WINDOW", 0.3):
            start = time.monotonic()
            _, err = self.quietly(
                lambda: (
                    trainyard_run.log("a", 1.0),
                    trainyard_run.log("b", 2.0),
                    trainyard_run.log("c", 3.0),
                    self.assertTrue(trainyard_run.flush(5)),
                )
            )
            elapsed = time.monotonic() - start
        self.assertLess(elapsed, 0.8, "stale batches were tried again")
        lines = err.splitlines()
        self.assertEqual(len(lines), 3, err)
        for line, name in zip(lines, "abc"):
            self.assertIn("could not record metric %s:" % name, line)
            self.assertIn("503", line)
            self.assertIn("gave up", line)
        # The server comes back: later metrics go again.
        time.sleep(max(0.0, self.server.down_until - time.monotonic()))
        _, err = self.quietly(lambda: (trainyard_run.log("d", 4.0), trainyard_run.flush(5)))
        self.assertEqual(err, "")
        self.assertEqual(self.server.accepted, [_metric("d", 4.0)])

    def test_full_queue_blocks_log_until_there_is_room(self):
        self.server.down_until = time.monotonic() + 0.4
        with mock.patch.object(trainyard_run, "MAX_QUEUED_METRICS", 2):
            out, err = self.quietly(
                lambda: (trainyard_run.log("a", 1.0), trainyard_run.log("b", 2.0))
            )
            start = time.monotonic()
            out2, err2 = self.quietly(trainyard_run.log, "c", 3.0)
            elapsed = time.monotonic() - start
            self.assertTrue(trainyard_run.flush(5))
        self.assertGreaterEqual(elapsed, 0.2, "log() should have waited for room")
        self.assertLess(elapsed, 2)
        self.assertEqual(out + out2, "metric a=1.0\nmetric b=2.0\nmetric c=3.0\n")
        self.assertEqual(err, "")
        self.assertEqual(len(err2.splitlines()), 1, err2)
        self.assertIn("2 metrics are waiting to be sent", err2)
        self.assertEqual(
            self.server.accepted, [_metric("a", 1.0), _metric("b", 2.0), _metric("c", 3.0)]
        )

    def test_one_sender_thread_for_many_logging_threads(self):
        before = _sender_threads()

        def work(tag):
            for i in range(50):
                trainyard_run.log(tag, float(i), step=i)

        out, err = self.quietly(
            lambda: [t.join() for t in [threading.Thread(target=work, args=("t%d" % k,)) for k in range(4)] if not t.start()]
        )
        self.assertTrue(trainyard_run.flush(10))
        self.assertEqual(err, "")
        self.assertEqual(len(_sender_threads() - before), 1)
        self.assertEqual(len(self.server.accepted), 200)
        for k in range(4):
            steps = [m["step"] for m in self.server.accepted if m["name"] == "t%d" % k]
            self.assertEqual(steps, list(range(50)))

    @unittest.skipUnless(hasattr(os, "fork"), "needs fork")
    def test_forked_child_sends_its_own_metrics_and_flushes_at_exit(self):
        # The parent's batch is still queued when the child forks; the child must
        # neither resend it nor lose its own metric when it ends (os._exit()).
        self.server.down_until = time.monotonic() + 0.5
        self.quietly(trainyard_run.log, "parent", 1.0)
        ctx = multiprocessing.get_context("fork")
        child = ctx.Process(target=_child_logs, args=("child", 2.0))
        child.start()
        child.join(10)
        self.assertEqual(child.exitcode, 0)
        self.assertIn(_metric("child", 2.0), self.server.accepted, "child exited without sending")
        self.assertTrue(trainyard_run.flush(5))
        names = sorted(m["name"] for m in self.server.accepted)
        self.assertEqual(names, ["child", "parent"])

    def test_sends_in_the_foreground_when_no_thread_can_start(self):
        # As at interpreter shutdown on Python 3.12+, or when out of threads.
        class NoThread(threading.Thread):
            def start(self):
                raise RuntimeError("can't create new thread at interpreter shutdown")

        fake = types.SimpleNamespace(
            Thread=NoThread, Condition=threading.Condition, Lock=threading.Lock
        )
        with mock.patch.object(trainyard_run, "threading", fake):
            out, err = self.quietly(trainyard_run.log, "late", 1.0)
        self.assertEqual(out, "metric late=1.0\n")
        self.assertIn("sending in the foreground", err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertEqual(self.server.accepted, [_metric("late", 1.0)])
        self.assertEqual(trainyard_run._sender.unsent(), 0)

    def test_new_process_gets_a_new_sender(self):
        old = trainyard_run._sender
        old.queue.append("parent's batch")
        old.pid = -1  # as seen from a child the at-fork hook did not reach
        try:
            new = trainyard_run._current_sender()
            self.assertIsNot(new, old)
            self.assertEqual(new.pid, os.getpid())
            self.assertEqual(len(new.queue), 0)
            self.assertIs(trainyard_run._current_sender(), new)
        finally:
            old.queue.clear()
            old.pid = os.getpid()


def _child_logs(name, value):
    with contextlib.redirect_stdout(io.StringIO()):
        trainyard_run.log(name, value)


class UnreachableTest(_FreshSender):
    def test_connection_refused_warns_after_retries(self):
        env = {
            "TRAINYARD_API": "http://127.0.0.1:%d" % _free_port(),
            "TRAINYARD_RUN_TOKEN": TOKEN,
        }
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, env), mock.patch.object(
            trainyard_run, "_RETRY_WINDOW", 0.2
        ), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            start = time.monotonic()
            trainyard_run.log("val_loss", 0.7, step=9)
            elapsed = time.monotonic() - start
            self.assertTrue(trainyard_run.flush(5))
        self.assertLess(elapsed, 0.1)
        self.assertEqual(out.getvalue(), "metric val_loss=0.7 (step 9)\n")
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 1, err.getvalue())
        self.assertIn("val_loss", lines[0])
        self.assertIn("cannot reach", lines[0])
        self.assertIn("gave up", lines[0])
        self.assertNotIn(TOKEN, lines[0])


class DefaultsTest(unittest.TestCase):
    def test_retry_schedule_and_bounds(self):
        self.assertEqual(trainyard_run._BACKOFF_START, 0.25)
        self.assertEqual(trainyard_run._BACKOFF_MAX, 5.0)
        self.assertEqual(trainyard_run._RETRY_WINDOW, 600.0)
        self.assertEqual(trainyard_run.MAX_QUEUED_METRICS, 100_000)
        self.assertEqual(trainyard_run._DEFAULT_FLUSH_TIMEOUT, 60.0)
        self.assertIn("flush", trainyard_run.__all__)


class FallbackTest(_FreshSender):
    def run_without(self, *unset):
        env = dict(os.environ)
        env["TRAINYARD_API"] = "http://127.0.0.1:9"
        env["TRAINYARD_RUN_TOKEN"] = TOKEN
        for name in unset:
            env.pop(name, None)
        before = _sender_threads()
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, env, clear=True), mock.patch.object(
            trainyard_run, "_enqueue", side_effect=AssertionError("must not send")
        ), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            trainyard_run.log("accuracy", 0.5, step=2)
            trainyard_run.log("lr", 0.001)
            self.assertTrue(trainyard_run.flush(0))
        self.assertEqual(_sender_threads(), before, "no thread outside trainyard")
        self.assertIsNone(trainyard_run._sender.thread)
        return out.getvalue(), err.getvalue()

    def test_prints_when_api_unset(self):
        out, err = self.run_without("TRAINYARD_API")
        self.assertEqual(out, "metric accuracy=0.5 (step 2)\nmetric lr=0.001\n")
        self.assertEqual(err, "")

    def test_prints_when_token_unset(self):
        out, err = self.run_without("TRAINYARD_RUN_TOKEN")
        self.assertEqual(out, "metric accuracy=0.5 (step 2)\nmetric lr=0.001\n")
        self.assertEqual(err, "")

    def test_prints_when_both_unset(self):
        out, err = self.run_without("TRAINYARD_API", "TRAINYARD_RUN_TOKEN")
        self.assertEqual(out, "metric accuracy=0.5 (step 2)\nmetric lr=0.001\n")
        self.assertEqual(err, "")


class ValidationTest(unittest.TestCase):
    def setUp(self):
        patcher = mock.patch.object(
            trainyard_run, "_enqueue", side_effect=AssertionError("must not send")
        )
        patcher.start()
        self.addCleanup(patcher.stop)

    def assertRefused(self, fragment, fn, *args, **kwargs):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            with self.assertRaises(ValueError) as ctx:
                fn(*args, **kwargs)
        self.assertIn(fragment, str(ctx.exception))
        self.assertEqual(out.getvalue(), "", "nothing may be printed for a refused call")

    def test_bad_names(self):
        self.assertRefused("must not be empty", trainyard_run.log, "", 1.0)
        self.assertRefused("at most 255", trainyard_run.log, "x" * 256, 1.0)
        self.assertRefused("must be a string", trainyard_run.log, 7, 1.0)
        self.assertRefused("must be a string", trainyard_run.log, None, 1.0)
        self.assertRefused("control character", trainyard_run.log, "a\nb", 1.0)

    def test_name_of_255_chars_is_fine(self):
        out = io.StringIO()
        with mock.patch.dict(os.environ, {}, clear=True), contextlib.redirect_stdout(out):
            trainyard_run.log("n" * 255, 1.0)
        self.assertEqual(out.getvalue(), "metric %s=1.0\n" % ("n" * 255))

    def test_bad_values(self):
        self.assertRefused("not a bool", trainyard_run.log, "x", True)
        self.assertRefused("not a bool", trainyard_run.log, "x", False)
        self.assertRefused("finite", trainyard_run.log, "x", float("nan"))
        self.assertRefused("finite", trainyard_run.log, "x", float("inf"))
        self.assertRefused("finite", trainyard_run.log, "x", float("-inf"))
        self.assertRefused("not str", trainyard_run.log, "x", "0.5")
        self.assertRefused("must be a number", trainyard_run.log, "x", None)
        self.assertRefused("must be a number", trainyard_run.log, "x", [1.0])
        self.assertRefused("cannot be turned into a float", trainyard_run.log, "x", 10**400)

    def test_bad_steps(self):
        self.assertRefused("step must", trainyard_run.log, "x", 1.0, step=1.5)
        self.assertRefused("step must", trainyard_run.log, "x", 1.0, step="3")
        self.assertRefused("step must", trainyard_run.log, "x", 1.0, step=True)
        self.assertRefused("negative", trainyard_run.log, "x", 1.0, step=-1)

    def test_log_metrics_checks_everything_first(self):
        self.assertRefused(
            "finite", trainyard_run.log_metrics, {"good": 1.0, "bad": float("nan")}
        )
        self.assertRefused("dict", trainyard_run.log_metrics, [("a", 1.0)])


# A job script: fast retries so the tests stay short, then log and simply end.
_JOB = """
import threading, trainyard_run
trainyard_run._BACKOFF_START = 0.02
trainyard_run._BACKOFF_MAX = 0.1
trainyard_run.log("x", 1.0, step=1)
trainyard_run.log_metrics({"y": 2.0, "z": 3.0})
print("threads", threading.active_count())
"""


class ExitTest(_ServerCase):
    """The atexit hook waits for queued metrics before the process ends."""

    def run_job(self, **env_changes):
        env = dict(os.environ)
        env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
        for key, value in env_changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", _JOB], env=env, capture_output=True, text=True, timeout=30
        )
        return proc, time.monotonic() - start

    def test_exit_waits_for_the_server_and_delivers(self):
        self.server.down_until = time.monotonic() + 0.6
        proc, elapsed = self.run_job()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, "")
        self.assertEqual(
            proc.stdout, "metric x=1.0 (step 1)\nmetric y=2.0\nmetric z=3.0\nthreads 2\n"
        )
        # Delivered before the process ended: no waiting on this side.
        self.assertEqual(
            self.server.accepted, [_metric("x", 1.0, 1), _metric("y", 2.0), _metric("z", 3.0)]
        )
        self.assertGreater(len(self.requests), 2)

    def test_exit_gives_up_after_the_flush_timeout(self):
        proc, elapsed = self.run_job(
            TRAINYARD_API="http://127.0.0.1:%d" % _free_port(),
            TRAINYARD_METRICS_FLUSH_TIMEOUT="1.3",
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertGreaterEqual(elapsed, 1.3)
        self.assertLess(elapsed, 5)
        lines = proc.stderr.splitlines()
        self.assertEqual(len(lines), 2, proc.stderr)
        self.assertIn("sending 3 queued metrics before exit (waiting up to 1.3 s)", lines[0])
        self.assertIn("warning: 3 metrics were not sent", lines[1])
        self.assertNotIn(TOKEN, proc.stderr)

    def test_outside_trainyard_no_thread_and_no_wait(self):
        proc, elapsed = self.run_job(TRAINYARD_API=None, TRAINYARD_RUN_TOKEN=None)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, "")
        self.assertTrue(proc.stdout.endswith("threads 1\n"), proc.stdout)
        self.assertEqual(self.requests, [])


if __name__ == "__main__":
    unittest.main()

"""Tests for trainyard_run against a real HTTP server on 127.0.0.1.

Run with:  cd python && python3 -m unittest -v test_trainyard_run
"""

import contextlib
import http.server
import io
import json
import os
import socket
import threading
import time
import unittest
from unittest import mock

import trainyard_run

TOKEN = "tok-secret-0123456789"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        server = self.server
        with server.lock:
            server.requests.append(
                {"path": self.path, "headers": dict(self.headers.items()), "body": body}
            )
            status, payload, extra = server.replies.pop(0) if server.replies else (204, None, {})
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


class _ServerCase(unittest.TestCase):
    """Starts a fresh server per test; queue replies with self.reply(...)."""

    def setUp(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.lock = threading.Lock()
        self.server.requests = []
        self.server.replies = []
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.addCleanup(self.thread.join, 5)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)

        host, port = self.server.server_address
        self.api = "http://%s:%d" % (host, port)
        env = {
            "TRAINYARD_API": self.api,
            "TRAINYARD_RUN_TOKEN": TOKEN,
        }
        patcher = mock.patch.dict(os.environ, env)
        patcher.start()
        self.addCleanup(patcher.stop)
        # Keep retries fast in tests.
        delays = mock.patch.object(trainyard_run, "_RETRY_DELAYS", (0.01, 0.02, 0.03))
        delays.start()
        self.addCleanup(delays.stop)

    def reply(self, status, payload=None, headers=None):
        self.server.replies.append((status, payload, headers or {}))

    def call(self, fn, *args, **kwargs):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result = fn(*args, **kwargs)
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
        _, out, err = self.call(trainyard_run.log_metrics, {})
        self.assertEqual((out, err), ("", ""))
        self.assertEqual(self.requests, [])

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

    def test_persistent_5xx_warns_after_retries(self):
        for _ in range(10):
            self.reply(500, _error("internal", "database is locked"))
        result, out, err = self.call(trainyard_run.log, "train_loss", 1.5, step=4)
        self.assertIsNone(result)
        self.assertEqual(len(self.requests), len(trainyard_run._RETRY_DELAYS) + 1)
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn("train_loss", lines[0])
        self.assertIn("database is locked", lines[0])
        self.assertIn("500", lines[0])
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
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            dead = "http://127.0.0.1:%d" % sock.getsockname()[1]
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


class UnreachableTest(unittest.TestCase):
    def test_connection_refused_warns_and_returns(self):
        # Find a port with nothing listening on it.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            "TRAINYARD_API": "http://127.0.0.1:%d" % port,
            "TRAINYARD_RUN_TOKEN": TOKEN,
        }
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, env), mock.patch.object(
            trainyard_run, "_RETRY_DELAYS", (0.01, 0.01)
        ), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            start = time.monotonic()
            trainyard_run.log("val_loss", 0.7, step=9)
            elapsed = time.monotonic() - start
        self.assertLess(elapsed, 10)
        self.assertEqual(out.getvalue(), "metric val_loss=0.7 (step 9)\n")
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 1, err.getvalue())
        self.assertIn("val_loss", lines[0])
        self.assertIn("cannot reach", lines[0])
        self.assertNotIn(TOKEN, lines[0])

    def test_default_retry_schedule_fits_budget(self):
        self.assertLess(sum(trainyard_run._RETRY_DELAYS), trainyard_run._TOTAL_BUDGET)
        self.assertLessEqual(trainyard_run._TOTAL_BUDGET, 10)


class FallbackTest(unittest.TestCase):
    def run_without(self, *unset):
        env = dict(os.environ)
        env["TRAINYARD_API"] = "http://127.0.0.1:9"
        env["TRAINYARD_RUN_TOKEN"] = TOKEN
        for name in unset:
            env.pop(name, None)
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.dict(os.environ, env, clear=True), mock.patch.object(
            trainyard_run, "_send", side_effect=AssertionError("must not send")
        ), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            trainyard_run.log("accuracy", 0.5, step=2)
            trainyard_run.log("lr", 0.001)
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
            trainyard_run, "_send", side_effect=AssertionError("must not send")
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


if __name__ == "__main__":
    unittest.main()

"""INTEGRITY=s3 through a proxy that rewrites the object's checksum headers (the body
untouched): a stored value that is not a checksum, and a response carrying two checksums
(tests/test_worker_integrity.py has the rest against the emulator)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from private_s3_processor_cli.local.emulator import aws_env
from private_s3_worker import ExitCode

from tests.conftest import ROOT, put
from tests.test_worker import keys_under
from tests.test_worker_integrity import MIB, OBJECT_GET

Headers = list[tuple[str, str]]


class HeaderProxy:
    """Passes requests to the emulator; the answers to GETs of ``path`` get their headers
    through ``rewrite`` (the body is untouched)."""

    def __init__(self, upstream: str, path: str, rewrite: Callable[[Headers], Headers]) -> None:
        target = urlparse(upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sent = self.rfile.read(length) if length else b""
                host = target.hostname or "localhost"
                upstream = http.client.HTTPConnection(host, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, sent, {**headers, "Host": target.netloc})
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                kept = [
                    (k, v)
                    for k, v in answer.getheaders()
                    if k.lower() not in ("transfer-encoding", "connection", "content-length")
                ]
                if self.command == "GET" and re.search(path, self.path):
                    kept = rewrite(kept)
                self.send_response(answer.status)
                for key, value in [*kept, ("Content-Length", str(len(data)))]:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://localhost:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _with_headers(
    endpoint: str, name: str, body: bytes, rewrite: Callable[[Headers], Headers], *run: str
) -> tuple[int, list[dict[str, Any]], str]:
    """The worker (``run``: its command line; default ``-m private_s3_worker``) in s3 mode
    through a proxy that rewrites the object's checksum headers."""
    event = put(endpoint, f"in/integrity-{name}.bin", body, ChecksumAlgorithm="CRC64NVME")
    out = f"out-int-headers/{name}/"
    header_proxy = HeaderProxy(endpoint, OBJECT_GET, rewrite)
    try:
        env = {**aws_env(header_proxy.url), **event, "PYTHONPATH": str(ROOT)}
        env.update(INTEGRITY="s3", OUTPUT_PREFIX=out, AWS_MAX_ATTEMPTS="2")
        command = [sys.executable, *(run or ("-m", "private_s3_worker"))]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    finally:
        header_proxy.stop()
    assert done.stderr == "", done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], out


def test_a_stored_value_that_is_not_a_checksum_fails_the_run(endpoint: str) -> None:
    def garble(headers: Headers) -> Headers:
        return [
            (k, "!!not-b64" if k.lower() == "x-amz-checksum-crc64nvme" else v) for k, v in headers
        ]

    code, lines, out = _with_headers(endpoint, "garbled", os.urandom(MIB), garble)
    assert code == ExitCode.FAILED, lines[-1]
    assert lines[-1]["error"] == (
        "integrity: S3 returned a CRC64NVME checksum that is neither base64 nor a multipart "
        "composite (base64-N): '!!not-b64'"
    )
    assert keys_under(endpoint, out) == []


def test_without_awscrt_of_two_checksums_the_one_botocore_checks_is_compared(
    endpoint: str,
) -> None:
    """S3 returns CRC64NVME and CRC32: botocore without awscrt checks the CRC32."""
    body = os.urandom(MIB + 3)
    crc32 = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()

    def add_crc32(headers: Headers) -> Headers:
        return [*headers, ("x-amz-checksum-crc32", crc32)]

    no_crt = (
        "-c",
        "import sys, runpy; sys.modules['awscrt'] = None; "
        "runpy.run_module('private_s3_worker', run_name='__main__')",
    )
    code, lines, out = _with_headers(endpoint, "two-no-crt", body, add_crc32, *no_crt)
    assert code == ExitCode.PROCESSED, lines[-1]
    assert lines[-1]["integrity"] == {"method": "s3", "algorithm": "CRC32", "checksum": crc32}
    assert len(keys_under(endpoint, out)) == 1

"""A fault-injecting HTTP proxy between the worker and the emulator.

Requests pass through to the moto server unless a rule matches: then the proxy
answers an S3 error (503 SlowDown, 500 InternalError), resets the connection,
sends the headers and part of the body and closes (a stream cut mid-object), or
sends the whole answer with one body byte altered (same length, same headers: what
only a checksum of the bytes can catch).
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

ERRORS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
}


@dataclass
class Fault:
    """Inject ``kind`` into the next ``times`` requests whose method and path match."""

    method: str
    path: str
    kind: str  # "slowdown" | "internal" | "reset" | "cut" | "flip"
    times: int
    injected: int = 0

    def wants(self, method: str, path: str) -> bool:
        return (
            self.injected < self.times
            and method == self.method
            and re.search(self.path, path) is not None
        )


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    # method, path, Range, x-amz-checksum-mode
    requests: list[tuple[str, str, str, str]] = field(default_factory=list)

    def start(self) -> str:
        proxy = self
        target = urlparse(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests.append(
                    (
                        self.command,
                        self.path,
                        self.headers.get("Range", ""),
                        self.headers.get("x-amz-checksum-mode", ""),
                    )
                )
                fault = next((f for f in proxy.faults if f.wants(self.command, self.path)), None)
                if fault and fault.kind in ERRORS:
                    fault.injected += 1
                    status, code, message = ERRORS[fault.kind]
                    payload = (
                        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                        f"<Message>{message}</Message></Error>"
                    ).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault and fault.kind == "reset":
                    fault.injected += 1
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = target.netloc
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault and fault.kind == "cut":
                    fault.injected += 1
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if fault and fault.kind == "flip" and data:
                    fault.injected += 1
                    middle = len(data) // 2
                    data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
                self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://localhost:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

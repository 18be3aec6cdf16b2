"""A pacing HTTP proxy between S3 clients and the moto server: what a task really reads.

Every request goes to the emulator, which answers it (status, headers, If-Match,
ChecksumMode, ranges); the proxy reads the whole answer, then sends the body no faster
than ``rate`` bytes a second (a token bucket of one slice). The emulator's own work is
done before the first paced byte, so the paced transfer measures only whether the
client keeps up with the source, as a task reading S3 over the network must.

For each GET it records how long the client took to absorb the body: from the first
byte sent to the last one accepted by the socket. The proxy's send buffer is kept small
so that a client slower than the source shows as a longer transfer, not as bytes
queued in the kernel.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

SLICE = 256 * 1024  # bytes sent per pacing step; also the bucket's burst
SEND_BUFFER = 256 * 1024


@dataclass
class Transfer:
    path: str
    size: int
    seconds: float


@dataclass
class PacingProxy:
    upstream: str
    rate: float = 0.0  # bytes per second; 0: unpaced
    transfers: list[Transfer] = field(default_factory=list)

    def start(self) -> str:
        proxy = self
        target = urlparse(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = target.netloc
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD" or not data:
                    return
                seconds = proxy.send_paced(self.wfile.write, data)
                if self.command == "GET":
                    proxy.transfers.append(Transfer(self.path, len(data), seconds))

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://localhost:{self._server.server_address[1]}"
        return self.url

    def send_paced(self, write: Callable[[memoryview], object], data: bytes) -> float:
        """Send ``data`` at ``rate`` at most: each slice waits for its due time, counted
        from the first byte, so a late slice is caught up rather than lost."""
        view = memoryview(data)
        rate = self.rate
        start = time.monotonic()
        sent = 0
        while sent < len(data):
            piece = view[sent : sent + SLICE]
            if rate:
                delay = start + (sent + len(piece) - SLICE) / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            write(piece)
            sent += len(piece)
        return time.monotonic() - start

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

"""Workers started from a pre-imported fork server: one task, one fresh process, without
paying Python's and botocore's imports each time.

A fresh ``python -m private_s3_worker`` spends most of its life importing (boto3, botocore,
the worker) and building its S3 client; a process forked from a parent that has already
imported them starts its object at once (BENCHMARKS.md, "Local flow"). The local flow's
own process is multi-threaded, and forking a threaded process is unsafe (a lock another
thread holds stays held in the child), so a single-threaded server process does the
forking: started once per working directory, it imports the worker, then forks one child
per task. The child is what the task's fresh interpreter would have been:

- its own process, in its own process group (``os.killpg`` stops it and what it starts,
  as before), reaped by the server, whose exit status reaches the caller unchanged;
- the task's environment exactly (``os.environ`` replaced), its working directory, its
  ``PYTHONPATH`` at the head of ``sys.path``, stdin from /dev/null, stdout and stderr
  the caller's pipes;
- ``python -m private_s3_worker`` itself (``runpy``), ending through the interpreter's
  own exit: SystemExit, atexit handlers, non-daemon threads joined, streams flushed; an
  uncaught exception prints its traceback and exits 1.

What a fork cannot change is what is read as a process starts: the ``PYTHON*``
variables (``PYTHONPATH`` decides which copies of the worker and botocore the server
imported), the dynamic loader's ``LD_*``, the locale, ``TZ`` and ``BOTO_DISABLE_CRT``
(``STARTUP``). A task whose values of those differ from the server's gets a fresh
interpreter instead (``ForkServer.serves``). The random module re-seeds itself in a
forked child (``os.register_at_fork``), so retries' jitter differs between workers as
before.

The caller's side (``ForkServer``, ``ForkedWorker``) is ``forked.py``. This module is
the server: run as ``python -m private_s3_processor_cli.local.forkserver FD``: FD is its end of the
socket pair. Requests (caller -> server): a 4-byte length, a JSON object with ``argv``,
``env`` and ``cwd``, and the child's stdout and stderr as SCM_RIGHTS descriptors.
Answers (server -> caller), JSON lines: ``{"ready": true}`` once imported (or
``{"error": ...}``), ``{"spawned": pid}`` per request, in order, then ``{"exited": pid,
"status": code}`` when that child ends (a negative code: killed by that signal, as
``subprocess`` reports it). The server ends when the caller closes its end.
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import struct
import sys
import threading
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

WORKER = "private_s3_worker"
# What the server imports before it forks: the worker's modules, and what creating its
# clients imports lazily (warmed by creating one of each, never used).
PRELOAD = (
    "private_s3_worker.run",
    "private_s3_worker.queue_mode",
    "private_s3_worker.manifest",
    "private_s3_worker.testing",
)
WARM_CLIENTS = ("s3", "sqs")
HEADER = struct.Struct("!I")  # a request's length
MAX_REQUEST = 16 * 1024 * 1024


def _preload() -> None:
    """Import the worker, and parse botocore's data files once for every child.

    A new botocore session reads and parses its JSON data files (the service models,
    endpoints, partitions, rule sets) through a loader of its own: half of a forked
    worker's time. Here one loader is warmed by creating each client the worker makes,
    and every session a child creates without its own ``AWS_DATA_PATH`` gets that
    loader: the same files' parsed contents, as sessions sharing a loader in one
    process have (botocore only reads them)."""
    for name in PRELOAD:
        importlib.import_module(name)
    import botocore.loaders
    import botocore.session

    warm = botocore.loaders.create_loader()
    session = botocore.session.get_session()
    session.register_component("data_loader", warm)
    for service in WARM_CLIENTS:
        session.create_client(
            service,
            region_name="us-east-1",
            aws_access_key_id="preload",
            aws_secret_access_key="preload",
        )
    # What boto3 imports the first time it makes an S3 client (its transfer methods).
    import boto3

    boto3.session.Session(botocore_session=session).client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="preload",  # explicit: no credential chain, no IMDS
        aws_secret_access_key="preload",
    )
    fresh = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> Any:
        return warm if search_path_string is None else fresh(search_path_string)

    botocore.session.create_loader = create_loader


def _send(sock: socket.socket, message: Mapping[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def _receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """One request and its descriptors; None once the caller has closed its end."""
    head, fds, _, _ = socket.recv_fds(sock, HEADER.size, 2)
    if not head:
        return None
    while len(head) < HEADER.size:
        more = sock.recv(HEADER.size - len(head))
        if not more:
            return None
        head += more
    (length,) = HEADER.unpack(head)
    if length > MAX_REQUEST:
        raise ValueError(f"request of {length} bytes")
    body = b""
    while len(body) < length:
        more = sock.recv(length - len(body))
        if not more:
            return None
        body += more
    request: dict[str, Any] = json.loads(body)
    return request, fds


def _reap(sock: socket.socket) -> None:
    """Report every child that has ended."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"exited": pid, "status": os.waitstatus_to_exitcode(status)})


def _serve(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """Fork a child per request until the caller goes. Returns in the child (its
    request and descriptors), None in the server when it is time to exit."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        selector.register(wake_r, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj == wake_r:
                    os.read(wake_r, 4096)
                    _reap(sock)
                    continue
                received = _receive(sock)
                if received is None:
                    return None
                request, fds = received
                pid = os.fork()
                if pid == 0:
                    # The child: none of the server's machinery.
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    for fd in (wake_r, wake_w):
                        os.close(fd)
                    sock.close()
                    return request, fds
                # Before the caller learns the pid, it leads its own process group (the
                # child does the same; whichever runs first wins, both are harmless).
                with suppress(OSError):
                    os.setpgid(pid, pid)
                for fd in fds:
                    os.close(fd)
                _send(sock, {"spawned": pid})


def _become_task(request: Mapping[str, Any], fds: list[int], base_path: list[str]) -> None:
    """In the forked child: become the task's fresh worker process."""
    with suppress(OSError):
        os.setpgid(0, 0)
    stdout, stderr = fds
    devnull = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((devnull, 0), (stdout, 1), (stderr, 2)):
        os.dup2(source, target)
        os.close(source)
    env: dict[str, str] = dict(request["env"])
    cwd = str(request["cwd"])
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [cwd, *extra, *base_path]
    importlib.invalidate_caches()  # files written since the server started are found
    # PYTHONUNBUFFERED is a startup variable: equal to the server's, so the streams'
    # buffering already is what a fresh interpreter would have chosen.
    # runpy puts the module's file in argv[0], as `python -m` does.
    sys.argv[:] = ["-m", *(str(a) for a in request["args"])]
    _retitle(" ".join([sys.executable, "-m", WORKER, *sys.argv[1:]]))


def _retitle(title: str) -> None:
    """Show ``title`` as this process's command line (``ps``, /proc/PID/cmdline), as a
    fresh worker's would read, instead of the server's it inherited. On Linux the
    command line is the kernel's view of the memory the original argv strings occupy
    (/proc/PID/stat fields 48-49); the interpreter keeps its own copies, so that memory
    can be rewritten in place, within its length (longer titles are cut). Elsewhere,
    or if the fields cannot be read, the inherited command line stays."""
    try:
        fields = Path("/proc/self/stat").read_bytes().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # fields 48, 49; split from 3
    except (OSError, IndexError, ValueError):
        return
    size = end - start
    if start <= 0 or size <= 1:
        return
    text = title.encode(errors="replace").replace(b"\0", b" ")[: size - 1]
    ctypes.memmove(start, text + b"\0" * (size - len(text)), size)


def main(argv: list[str]) -> None:
    sock = socket.socket(fileno=int(argv[0]))
    # The server's sys.path without its working directory and its PYTHONPATH entries,
    # which each child replaces with its own.
    own = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    base_path = sys.path[1 + len(own) :]
    try:
        _preload()
    except Exception as exc:  # the caller falls back to fresh interpreters
        _send(sock, {"error": f"{type(exc).__name__}: {exc}"})
        return
    # Everything imported so far is shared with the children, never collected by them:
    # a child's collections (and the one at its exit) skip it, and its pages stay shared.
    gc.freeze()
    _send(sock, {"ready": True})
    served = _serve(sock)
    if served is None:
        return
    request, fds = served
    _become_task(request, fds, base_path)
    os._exit(_run_worker())


def _run_worker() -> int:
    """``python -m private_s3_worker`` (its ``__main__`` through runpy), then the end of
    an interpreter as far as anyone can observe it: the exit status ``sys.exit`` or an
    uncaught exception gives, the non-daemon threads joined (``threading._shutdown``,
    which also ends the thread pools), the atexit handlers, the streams flushed. The
    module teardown that follows in a real exit is skipped: in a child it only frees
    the server's inherited objects (about 0.04 s of each worker), and Python never
    promises ``__del__`` for objects alive at exit (the Data model, ``object.__del__``)."""
    try:
        runpy.run_module(WORKER, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = _exit_status(stop.code)
    except KeyboardInterrupt:
        code = -signal.SIGINT  # as the interpreter ends on it: killed by SIGINT
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    for ending in (threading._shutdown, atexit._run_exitfuncs):  # type: ignore[attr-defined]
        try:
            ending()
        except BaseException:  # as an interpreter at exit: reported, the status kept
            print("Exception ignored at exit:", file=sys.stderr)
            sys.excepthook(*sys.exc_info())
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def _exit_status(code: object) -> int:
    """What the interpreter exits with for ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    main(sys.argv[1:])

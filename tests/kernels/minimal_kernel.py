"""A small, deliberately misbehaving-on-request Jupyter kernel for supervisor tests.

Built on our protocol layer (``SessionCore``) and plain blocking pyzmq, so the lifecycle tests
can start dozens of kernels in well under a second each and make them fail in precise ways.
Run with our venv's python: ``python minimal_kernel.py -f CONNECTION_FILE [flags]``.

Behaviour when well-behaved: ``kernel_info_request``; ``execute_request`` (``exec`` of the code
in one namespace, ``busy``/``idle`` status on IOPub, ``KeyboardInterrupt`` on SIGINT while
executing); ``shutdown_request`` (reply, then exit 0); ``interrupt_request`` (reply; interrupts
a running execution); heartbeat echo on a ROUTER in a thread.

Flags:
  --crash-at-start          exit(1) before binding anything
  --crash-after SECONDS     os._exit(3) after SECONDS
  --exit-code CODE          the code --crash-after exits with (0: a clean exit, as ``exit``)
  --eat-memory MB           one second after starting, allocate and touch MB megabytes (to
                            meet a memory limit: the OOM killer's SIGKILL)
  --wedge-after SECONDS     after SECONDS stop serving shell and control (a deadlocked main
                            loop); the heartbeat thread keeps answering
  --ignore-sigterm          SIGTERM is ignored
  --fork-child PIDFILE      start a grandchild in its own session (outlives killpg) and write
                            its pid to PIDFILE
  --daemon-child PIDFILE    start a daemon by double fork: an intermediate child starts it in
                            its own session and exits at once, so it is no longer in our
                            tree (it is init's, or a child subreaper's); its pid goes to PIDFILE
  --daemon-lifetime SECONDS how long that daemon lives (default 600)
  --never-reply             never answer shell/control (shutdown_request included)
  --slow-start SECONDS      sleep before binding (the heartbeat is silent meanwhile)
  --no-heartbeat            never echo heartbeats
  --xpub                    IOPub is an XPUB that sends a JEP 65 ``iopub_welcome`` for each new
                            subscription (as ipykernel >= 7.2); default a plain PUB (no welcome)
  --iopub-output            publish ``execute_input`` and the code's stdout as ``stream``
  --idle-delay SECONDS      publish each ``idle`` status SECONDS after the reply (IOPub lags)
  --linger-after-shutdown SECONDS
                            after the shutdown_reply, close every socket, then stay alive
                            SECONDS before exiting (a long interpreter teardown)

Transport encryption is opt-in through the connection info, not a flag: when it carries
``curve_secretkey`` (Z85), every bound socket is a CURVE server with that key, as ipykernel
7.4 does, so a peer without the kernel's public key is dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from typing import Any

import zmq

from jupyter_client.protocol.session import SessionCore


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("-f", dest="connection_file", required=True)
    p.add_argument("--crash-at-start", action="store_true")
    p.add_argument("--crash-after", type=float, default=None)
    p.add_argument("--exit-code", type=int, default=3)
    p.add_argument("--wedge-after", type=float, default=None)
    p.add_argument("--eat-memory", type=int, default=None)
    p.add_argument("--ignore-sigterm", action="store_true")
    p.add_argument("--fork-child", default=None)
    p.add_argument("--daemon-child", default=None)
    p.add_argument("--daemon-lifetime", type=float, default=600.0)
    p.add_argument("--never-reply", action="store_true")
    p.add_argument("--slow-start", type=float, default=0.0)
    p.add_argument("--no-heartbeat", action="store_true")
    p.add_argument("--xpub", action="store_true")
    p.add_argument("--iopub-output", action="store_true")
    p.add_argument("--idle-delay", type=float, default=0.0)
    p.add_argument("--linger-after-shutdown", type=float, default=None)
    return p.parse_args(argv)


class Interrupted(KeyboardInterrupt):
    pass


class Kernel:
    def __init__(self, opts: argparse.Namespace, info: dict[str, Any]) -> None:
        self.opts = opts
        self.session = SessionCore(
            key=info["key"].encode(), signature_scheme=info["signature_scheme"]
        )
        self.ctx = zmq.Context()
        # tcp://ip:port, or ipc://path-port as upstream's clients and ipykernel spell it
        sep = "-" if info["transport"] == "ipc" else ":"
        url = f"{info['transport']}://{info['ip']}{sep}"
        secret = info.get("curve_secretkey")
        self.curve_secretkey: bytes | None = secret.encode() if secret else None
        self.shell = self._bind(zmq.ROUTER, url, info["shell_port"])
        self.control = self._bind(zmq.ROUTER, url, info["control_port"])
        self.stdin = self._bind(zmq.ROUTER, url, info["stdin_port"])
        self.iopub = self._bind(zmq.XPUB if opts.xpub else zmq.PUB, url, info["iopub_port"])
        self.hb = self._bind(zmq.ROUTER, url, info["hb_port"])
        self.ns: dict[str, Any] = {}
        self.executing = False
        self.count = 0
        self.stopping = threading.Event()
        self.hb_closed = threading.Event()

    def _bind(self, kind: int, url: str, port: int) -> zmq.Socket[bytes]:
        sock = self.ctx.socket(kind)
        sock.linger = 0
        if self.curve_secretkey:
            # libzmq copies a socket's options into the listener at bind time: set after
            # bind, they would not apply to this endpoint and peers would connect in plain.
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = zmq.curve_public(self.curve_secretkey)
            sock.curve_server = True
        sock.bind(f"{url}{port}")
        return sock

    def heartbeat(self) -> None:
        while not self.stopping.is_set():
            if self.hb.poll(20):
                self.hb.send_multipart(self.hb.recv_multipart())
        self.hb.close(0)
        self.hb_closed.set()

    def close_and_linger(self, seconds: float) -> None:
        """--linger-after-shutdown: every port closed, the process still there."""
        for sock in (self.shell, self.control, self.stdin, self.iopub):
            sock.close(0)
        self.stopping.set()
        if not self.opts.no_heartbeat:
            self.hb_closed.wait(5)
        else:
            self.hb.close(0)
        time.sleep(seconds)

    def publish(self, msg_type: str, content: dict[str, Any], parent: dict[str, Any]) -> None:
        msg = self.session.msg(msg_type, content, parent=parent)
        self.iopub.send_multipart(self.session.serialize(msg, ident=msg_type.encode()))

    def reply(
        self, sock: zmq.Socket[bytes], idents: list[bytes], msg_type: str,
        content: dict[str, Any], parent: dict[str, Any],
    ) -> None:  # fmt: skip
        msg = self.session.msg(msg_type, content, parent=parent)
        sock.send_multipart(self.session.serialize(msg, ident=idents))

    def welcome(self) -> None:
        """Answer what the XPUB reports: ``\\x01`` + topic for a new subscription."""
        frame = self.iopub.recv()
        if frame[:1] == b"\x01":
            content = {"subscription": frame[1:].decode("utf-8", "replace")}
            self.publish("iopub_welcome", content, {})

    def on_sigint(self, signum: int, frame: Any) -> None:
        if self.executing:
            raise Interrupted()

    def handle(self, sock: zmq.Socket[bytes]) -> None:
        idents, rest = self.session.feed_identities(sock.recv_multipart())
        msg = self.session.deserialize(rest)
        if self.opts.never_reply:
            return
        mtype = msg["header"]["msg_type"]
        parent = msg["header"]
        self.publish("status", {"execution_state": "busy"}, parent)
        try:
            if mtype == "kernel_info_request":
                self.reply(sock, idents, "kernel_info_reply", {
                    "status": "ok", "protocol_version": "5.3", "implementation": "minimal",
                    "implementation_version": "0", "banner": "",
                    "language_info": {"name": "python", "version": sys.version.split()[0]},
                }, parent)  # fmt: skip
            elif mtype == "execute_request":
                self.execute(sock, idents, msg)
            elif mtype == "interrupt_request":
                self.reply(sock, idents, "interrupt_reply", {"status": "ok"}, parent)
            elif mtype == "shutdown_request":
                restart = bool(msg["content"].get("restart", False))
                self.reply(sock, idents, "shutdown_reply",
                           {"status": "ok", "restart": restart}, parent)  # fmt: skip
                raise SystemExit(0)
        finally:
            if self.opts.idle_delay:
                time.sleep(self.opts.idle_delay)
            self.publish("status", {"execution_state": "idle"}, parent)

    def execute(self, sock: zmq.Socket[bytes], idents: list[bytes], msg: dict[str, Any]) -> None:
        self.count += 1
        content: dict[str, Any] = {"status": "ok", "execution_count": self.count}
        code = msg["content"].get("code", "")
        out = io.StringIO()
        capture = contextlib.redirect_stdout(out) if self.opts.iopub_output else None
        if self.opts.iopub_output:
            self.publish("execute_input", {"code": code, "execution_count": self.count},
                         msg["header"])  # fmt: skip
        self.executing = True
        try:
            with capture or contextlib.nullcontext():
                exec(code, self.ns)
        except BaseException as exc:
            if isinstance(exc, SystemExit):
                raise
            ename = "KeyboardInterrupt" if isinstance(exc, Interrupted) else type(exc).__name__
            content = {
                "status": "error",
                "execution_count": self.count,
                "ename": ename,
                "evalue": str(exc),
                "traceback": traceback.format_exception(exc),
            }
        finally:
            self.executing = False
            if out.getvalue():
                self.publish("stream", {"name": "stdout", "text": out.getvalue()}, msg["header"])
        self.reply(sock, idents, "execute_reply", content, msg["header"])

    def serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.shell, zmq.POLLIN)
        poller.register(self.control, zmq.POLLIN)
        if self.opts.xpub:
            poller.register(self.iopub, zmq.POLLIN)
        wedge_at = (
            None if self.opts.wedge_after is None else time.monotonic() + self.opts.wedge_after
        )
        while True:
            if wedge_at is not None and time.monotonic() >= wedge_at:
                threading.Event().wait()  # deadlocked: only a signal ends this process
            for sock, _ in poller.poll(None if wedge_at is None else 50):
                if sock is self.iopub:
                    self.welcome()
                else:
                    self.handle(sock)  # type: ignore[arg-type]


def eat_memory(megabytes: int) -> None:
    chunks = []
    for _ in range(megabytes):
        chunks.append(bytearray(1 << 20))  # zero-filled: every page is touched
    time.sleep(3600)


def fork_child(pidfile: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        start_new_session=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    tmp = pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(child.pid))
    os.replace(tmp, pidfile)


def daemon_child(pidfile: str, lifetime: float) -> None:
    starter = (
        "import os, subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep({lifetime})'],\n"
        "                     start_new_session=True, stdin=subprocess.DEVNULL)\n"
        f"open({pidfile + '.tmp'!r}, 'w').write(str(p.pid))\n"
        f"os.replace({pidfile + '.tmp'!r}, {pidfile!r})\n"
    )
    subprocess.run([sys.executable, "-c", starter], check=True, stdin=subprocess.DEVNULL)


def main(argv: list[str]) -> None:
    opts = parse(argv)
    if opts.crash_at_start:
        print("minimal kernel: crashing at start (--crash-at-start)", file=sys.stderr)
        sys.exit(1)
    if opts.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if opts.crash_after is not None:
        timer = threading.Timer(opts.crash_after, os._exit, (opts.exit_code,))
        timer.daemon = True
        timer.start()
    if opts.eat_memory:
        threading.Timer(1.0, eat_memory, (opts.eat_memory,)).start()
    if opts.fork_child:
        fork_child(opts.fork_child)
    if opts.daemon_child:
        daemon_child(opts.daemon_child, opts.daemon_lifetime)
    if opts.slow_start:
        time.sleep(opts.slow_start)
    with open(opts.connection_file) as f:
        info = json.load(f)
    kernel = Kernel(opts, info)
    signal.signal(signal.SIGINT, kernel.on_sigint)
    if not opts.no_heartbeat:
        threading.Thread(target=kernel.heartbeat, daemon=True).start()
    try:
        kernel.serve()
    except SystemExit as exc:
        if opts.linger_after_shutdown is not None:
            kernel.close_and_linger(opts.linger_after_shutdown)
        os._exit(int(exc.code or 0))  # skip zmq teardown (the heartbeat thread holds a socket)


if __name__ == "__main__":
    main(sys.argv[1:])

"""A test kernel that does the registration handshake (protocol 5.6) instead of reading ports.

Run with our venv's python: ``python handshake_kernel.py -f REGISTRATION_FILE [flags]``. It
reads the registration file (our protocol layer's parser), binds its five channels on port 0
(the OS chooses: no port race), sends the signed registration to the launcher's registration
socket, waits for the signed acknowledgement and then serves exactly like
``minimal_kernel.py`` (whose ``Kernel`` it reuses: kernel_info, execute, interrupt, shutdown,
heartbeat). When the registration file carries ``curve_secretkey``, every bound socket is a
CURVE server with it (``minimal_kernel.Kernel``); the registration DEALER stays plain, like the
launcher's registration socket.

Flags (failure modes for the tests):
  --never-register          bind, then never register (sleeps until killed)
  --bad-signature           register with a signature made with the wrong key, then keep
                            waiting (the launcher must ignore it)
  --exit-before-register    exit(7) right after reading the registration file
  --ack-timeout SECONDS     give up (exit 5) if no acknowledgement arrives (default 30)
  --save-registration PATH  copy the registration file to PATH before registering (the
                            launcher removes it once registered; tests compare its keys)

Other flags go to ``minimal_kernel`` (e.g. ``--iopub-output``, ``--xpub``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import Any

import minimal_kernel  # same directory: sys.path[0] when run as a script
import zmq

from jupyter_client.protocol.handshake import (
    REGISTRATION_PORTS,
    RegistrationCodec,
    parse_registration_file,
)

_SOCKETS = {
    "shell_port": "shell",
    "iopub_port": "iopub",
    "stdin_port": "stdin",
    "control_port": "control",
    "hb_port": "hb",
}


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our flags, and the rest for ``minimal_kernel`` (serving: ``--iopub-output`` ...)."""
    p = argparse.ArgumentParser()
    p.add_argument("-f", dest="registration_file", required=True)
    p.add_argument("--never-register", action="store_true")
    p.add_argument("--bad-signature", action="store_true")
    p.add_argument("--exit-before-register", action="store_true")
    p.add_argument("--ack-timeout", type=float, default=30.0)
    p.add_argument("--save-registration", default=None)
    return p.parse_known_args(argv)


def bound_port(sock: zmq.Socket[bytes]) -> int:
    endpoint = sock.getsockopt(zmq.LAST_ENDPOINT)
    assert isinstance(endpoint, bytes)
    return int(endpoint.rsplit(b":", 1)[1])


def register(kernel: minimal_kernel.Kernel, reg: Any, opts: argparse.Namespace) -> None:
    ports = {name: bound_port(getattr(kernel, attr)) for name, attr in _SOCKETS.items()}
    assert set(ports) == set(REGISTRATION_PORTS)
    codec = RegistrationCodec(reg.key, reg.signature_scheme, reg.kernel_id)
    dealer = kernel.ctx.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.connect(reg.url)
    if opts.bad_signature:
        forged = RegistrationCodec(b"not-the-key", reg.signature_scheme, reg.kernel_id)
        dealer.send_multipart(forged.encode_registration(ports))
        time.sleep(3600)  # the launcher must not accept it: wait to be killed
    dealer.send_multipart(codec.encode_registration(ports))
    if not dealer.poll(int(opts.ack_timeout * 1000)):
        print("handshake_kernel: no acknowledgement, exiting", file=sys.stderr)
        os._exit(5)
    codec.decode_reply(dealer.recv_multipart())
    dealer.close()  # the launcher may close its registration socket now (JEP 66)


def main(argv: list[str]) -> None:
    opts, serving = parse(argv)
    with open(opts.registration_file, "rb") as f:
        raw = f.read()
    reg = parse_registration_file(raw, opts.registration_file)
    if opts.save_registration:
        tmp = opts.save_registration + ".tmp"
        with open(tmp, "wb") as f:
            f.write(raw)
        os.replace(tmp, opts.save_registration)  # whole or absent for a reader
    if opts.exit_before_register:
        sys.exit(7)
    ip = str(reg.extra.get("ip") or reg.registration_ip)
    info = {
        "transport": "tcp",
        "ip": ip,
        "key": reg.key,
        "signature_scheme": reg.signature_scheme,
        **{name: 0 for name in REGISTRATION_PORTS},  # bind port 0: the OS chooses
    }
    if reg.extra.get("curve_secretkey"):  # transport encryption: CURVE servers (as ipykernel)
        info["curve_secretkey"] = str(reg.extra["curve_secretkey"])
    kernel = minimal_kernel.Kernel(
        minimal_kernel.parse(["-f", opts.registration_file, *serving]), info
    )
    signal.signal(signal.SIGINT, kernel.on_sigint)
    threading.Thread(target=kernel.heartbeat, daemon=True).start()
    if opts.never_register:
        time.sleep(3600)
    register(kernel, reg, opts)
    try:
        kernel.serve()
    except SystemExit as exc:
        os._exit(int(exc.code or 0))  # as minimal_kernel: skip zmq teardown


if __name__ == "__main__":
    main(sys.argv[1:])

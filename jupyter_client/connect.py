"""Connection files and the ``ConnectionFileMixin`` (upstream module ``jupyter_client.connect``).

Same names, signatures, defaults, key order and file mode as upstream. Two deliberate
improvements: random ports come from :mod:`jupyter_client.protocol.ports` (outside the OS
ephemeral range, test-bound, never handed out twice by this process; see docs/ports.md), and
a garbled connection file raises :class:`~jupyter_client.protocol.connection.ConnectionFileError`
(a ``ValueError``) naming the file and field instead of an unrelated error later on.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
import tempfile
import warnings
from getpass import getpass
from typing import TYPE_CHECKING, Any, TypedDict, cast

import zmq
from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir
from traitlets import Bool, Bytes, CaselessStrEnum, Instance, Integer, Type, Unicode, observe
from traitlets.config import LoggingConfigurable, SingletonConfigurable

from jupyter_client._lazy_names import upstream_names
from jupyter_client.localinterfaces import localhost
from jupyter_client.protocol.connection import (
    ASSIGN_ORDER,
    PORT_NAMES,
    connection_dict,
    dumps_connection,
    parse_connection_info,
    read_connection_file,
)
from jupyter_client.protocol.connection import secure_write as _write_owner_only
from jupyter_client.protocol.ports import default_allocator
from jupyter_client.utils import _filefind

if TYPE_CHECKING:
    from jupyter_client.session import Session

__all__ = [
    "KernelConnectionInfo",
    "LocalPortCache",
    "find_connection_file",
    "tunnel_to_kernel",
    "write_connection_file",
]


class KernelConnectionInfo(TypedDict, total=False):
    """The connection-info dict (extra keys such as ``jupyter_session`` are allowed)."""

    shell_port: int
    iopub_port: int
    stdin_port: int
    control_port: int
    hb_port: int
    ip: str
    key: str | bytes
    transport: str
    signature_scheme: str
    kernel_name: str
    session: Session
    curve_publickey: str | bytes
    curve_secretkey: str | bytes


channel_socket_types = {
    "hb": zmq.REQ,
    "shell": zmq.DEALER,
    "iopub": zmq.SUB,
    "stdin": zmq.DEALER,
    "control": zmq.DEALER,
}
port_names = list(PORT_NAMES)


def _set_sticky_bit(directory: str) -> None:
    """Upstream marks the connection file's directory sticky (so others cannot delete it)."""
    if not directory or not hasattr(stat, "S_ISVTX"):
        return
    mode = os.stat(directory).st_mode
    if mode & stat.S_ISVTX:
        return
    try:
        os.chmod(directory, mode | stat.S_ISVTX)
    except OSError as e:
        if e.errno != errno.EPERM:
            raise


def write_connection_file(
    fname: str | None = None,
    shell_port: int = 0,
    iopub_port: int = 0,
    stdin_port: int = 0,
    hb_port: int = 0,
    control_port: int = 0,
    ip: str = "",
    key: bytes = b"",
    transport: str = "tcp",
    signature_scheme: str = "hmac-sha256",
    kernel_name: str = "",
    curve_publickey: bytes | str | None = None,
    curve_secretkey: bytes | str | None = None,
    **kwargs: Any,
) -> tuple[str, KernelConnectionInfo]:
    """Write a connection file (mode 0600) choosing any port given as ``<= 0``.

    Returns ``(fname, info)``; ``fname`` is a fresh ``tmp*.json`` in the system temp dir when
    not given. Extra ``kwargs`` are appended to the file in order.
    """
    if not ip:
        ip = localhost()
    if not fname:
        fd, fname = tempfile.mkstemp(".json")
        os.close(fd)
    ports = {
        "shell_port": shell_port,
        "iopub_port": iopub_port,
        "stdin_port": stdin_port,
        "control_port": control_port,
        "hb_port": hb_port,
    }
    missing = [name for name in ASSIGN_ORDER if ports[name] <= 0]
    if transport == "tcp":
        fresh = default_allocator().allocate(ip, len(missing))
    else:
        fresh, n = [], 0
        while len(fresh) < len(missing):
            n += 1
            if not os.path.exists(f"{ip}-{n}"):
                fresh.append(n)
    ports.update(zip(missing, fresh, strict=True))
    cfg = connection_dict(
        **ports,
        ip=ip,
        key=key,
        transport=transport,
        signature_scheme=signature_scheme,
        kernel_name=kernel_name,
        curve_publickey=curve_publickey,
        curve_secretkey=curve_secretkey,
        extra=kwargs,
    )
    _write_owner_only(fname, dumps_connection(cfg))
    _set_sticky_bit(os.path.dirname(fname))
    return fname, cast(KernelConnectionInfo, cfg)


def find_connection_file(
    filename: str = "kernel-*.json", path: str | list[str] | None = None, profile: str | None = None
) -> str:
    """Find a connection file by exact name or glob in ``path`` (default: cwd + runtime dir).

    Several glob matches → the most recently *accessed* one. Nothing → ``OSError``.
    """
    if profile is not None:
        warnings.warn(
            f"Jupyter has no profiles. profile={profile} has been ignored.",
            UserWarning,
            stacklevel=2,
        )
    if path is None:
        path = [".", jupyter_runtime_dir()]
    if isinstance(path, str):
        path = [path]
    try:
        return _filefind(filename, path)
    except OSError:
        pass
    pattern = filename if "*" in filename else f"*{filename}*"
    matches: list[str] = []
    for directory in path:
        matches.extend(glob.glob(os.path.join(directory, pattern)))
    matches = [os.path.abspath(m) for m in matches]
    if not matches:
        raise OSError(f"Could not find {filename!r} in {path!r}")
    if len(matches) == 1:
        return matches[0]
    return sorted(matches, key=lambda f: os.stat(f).st_atime)[-1]


def tunnel_to_kernel(
    connection_info: str | KernelConnectionInfo, sshserver: str, sshkey: str | None = None
) -> tuple[Any, ...]:
    """Forward the kernel's five ports through ``sshserver``; returns the local ports.

    Order: shell, iopub, stdin, hb, control. Uses the system ``ssh`` client.
    """
    from jupyter_client.ssh import tunnel

    info: dict[str, Any]
    if isinstance(connection_info, str):
        info = read_connection_file(connection_info)
    else:
        info = parse_connection_info(connection_info)
    lports = tunnel.select_random_ports(5)
    rports = [info[f"{c}_port"] for c in ("shell", "iopub", "stdin", "hb", "control")]
    remote_ip = info["ip"]
    password: str | bool
    if tunnel.try_passwordless_ssh(sshserver, sshkey):
        password = False
    else:
        password = getpass(f"SSH Password for {sshserver}: ")
    for lp, rp in zip(lports, rports, strict=True):
        tunnel.ssh_tunnel(lp, rp, sshserver, remote_ip, sshkey, password)
    return tuple(lports)


class LocalPortCache(SingletonConfigurable):
    """Process-wide record of ports handed out, so one process never hands out one twice.

    Backed by the shared allocator, which also avoids the OS ephemeral range (docs/ports.md).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._allocator = default_allocator()

    @property
    def currently_used_ports(self) -> set[int]:
        """Ports currently reserved by this process."""
        return set(self._allocator.reserved)

    def find_available_port(self, ip: str) -> int:
        """A free port on ``ip`` not handed out before (until returned)."""
        return self._allocator.allocate(ip, 1)[0]

    def return_port(self, port: int) -> None:
        """Make ``port`` available to this process again."""
        self._allocator.release(port)


class _Z85Key(Bytes):
    """A ``Bytes`` trait for a Z85 CurveZMQ key that also takes the key as ``str``."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, str):
            value = value.encode("ascii")
        return super().validate(obj, value)


class ConnectionFileMixin(LoggingConfigurable):
    """Connection-file and socket plumbing shared by kernel managers and clients.

    Holds the transport, ip, five ports, curve keys and the :class:`Session` (key and
    signature scheme); writes/loads connection files and opens plain pyzmq sockets.
    """

    data_dir: str = Unicode()  # type: ignore[assignment]

    def _data_dir_default(self) -> str:
        return jupyter_data_dir()

    connection_file = Unicode(
        "",
        config=True,
        help="JSON file in which to store connection info [default: kernel-<pid>.json]",
    )
    _connection_file_written = Bool(False)
    transport = CaselessStrEnum(["tcp", "ipc"], default_value="tcp", config=True)
    kernel_name: str = Unicode()  # type: ignore[assignment]
    context = Instance(zmq.Context)
    ip = Unicode(
        config=True,
        help="Set the kernel's IP address [default localhost]. If the IP address is something"
        " other than localhost, then Consoles on other machines will be able to connect to the"
        " Kernel, so be careful!",
    )

    def _ip_default(self) -> str:
        if self.transport == "ipc":
            if self.connection_file:
                return os.path.splitext(self.connection_file)[0] + "-ipc"
            return "kernel-ipc"
        return localhost()

    @observe("ip")
    def _ip_changed(self, change: Any) -> None:
        if change["new"] == "*":
            self.ip = "0.0.0.0"  # the user asked for all interfaces

    hb_port = Integer(0, config=True, help="set the heartbeat port [default: random]")
    shell_port = Integer(0, config=True, help="set the shell (ROUTER) port [default: random]")
    iopub_port = Integer(0, config=True, help="set the iopub (PUB) port [default: random]")
    stdin_port = Integer(0, config=True, help="set the stdin (ROUTER) port [default: random]")
    control_port = Integer(0, config=True, help="set the control (ROUTER) port [default: random]")

    # CurveZMQ keypair of the kernel (Z85 bytes), None unless the kernel uses CurveZMQ.
    # str is accepted too: get_connection_info() hands them out as str, and km.client()
    # passes that dict as trait values (upstream 8.9.1 raises TraitError there).
    curve_publickey = _Z85Key(allow_none=True, default_value=None)
    curve_secretkey = _Z85Key(allow_none=True, default_value=None)

    _random_port_names: list[str] | None = None

    @property
    def ports(self) -> list[int]:
        """The five ports in upstream's ``port_names`` order."""
        return [getattr(self, name) for name in port_names]

    session = Instance("jupyter_client.session.Session")

    def _session_default(self) -> Session:
        from jupyter_client.session import Session

        return Session(parent=self)

    blocking_class = Type(
        klass=object, default_value="jupyter_client.blocking.BlockingKernelClient"
    )

    # -- connection info -----------------------------------------------------------------
    def get_connection_info(self, session: bool = False) -> KernelConnectionInfo:
        """The connection info; ``session=True`` includes a clone of our Session instead of
        ``key`` (bytes) and ``signature_scheme``. Curve keys appear (as str) only when both set.
        """
        info: KernelConnectionInfo = {
            "transport": self.transport,
            "ip": self.ip,
            "shell_port": self.shell_port,
            "iopub_port": self.iopub_port,
            "stdin_port": self.stdin_port,
            "hb_port": self.hb_port,
            "control_port": self.control_port,
        }
        if session:
            info["session"] = self.session.clone()
        else:
            info["signature_scheme"] = self.session.signature_scheme
            info["key"] = self.session.key
        if self.curve_publickey is not None and self.curve_secretkey is not None:
            info["curve_publickey"] = self.curve_publickey.decode()
            info["curve_secretkey"] = self.curve_secretkey.decode()
        return info

    def blocking_client(self) -> Any:
        """A ``blocking_class`` client connected with our connection info."""
        info = self.get_connection_info()
        client: Any = self.blocking_class(parent=self)  # type: ignore[operator]
        client.load_connection_info(info)
        return client

    def cleanup_connection_file(self) -> None:
        """Remove the connection file if *we* wrote it (missing file is fine)."""
        if self._connection_file_written:
            self._connection_file_written = False
            try:
                os.remove(self.connection_file)
            except (OSError, AttributeError):
                pass

    def cleanup_ipc_files(self) -> None:
        """Remove ipc socket files (ipc transport only)."""
        if self.transport != "ipc":
            return
        for port in self.ports:
            try:
                os.remove(f"{self.ip}-{port}")
            except OSError:
                pass

    def _record_random_port_names(self) -> None:
        """Remember (once, tcp only) which ports were left for us to choose."""
        if self.transport != "tcp" or self._random_port_names is not None:
            return
        self._random_port_names = [n for n in port_names if getattr(self, n) <= 0]

    def cleanup_random_ports(self) -> None:
        """Forget randomly chosen ports (and release them) and remove the connection file."""
        if not self._random_port_names:
            return
        allocator = default_allocator()
        for name in self._random_port_names:
            allocator.release(getattr(self, name))
            setattr(self, name, 0)
        self.cleanup_connection_file()

    def write_connection_file(self, **kwargs: Any) -> None:
        """Write our connection info to ``connection_file`` (no-op if already written)."""
        if self._connection_file_written and os.path.exists(self.connection_file):
            return
        self.connection_file, cfg = write_connection_file(
            self.connection_file,
            transport=self.transport,
            ip=self.ip,
            key=self.session.key,
            stdin_port=self.stdin_port,
            iopub_port=self.iopub_port,
            shell_port=self.shell_port,
            hb_port=self.hb_port,
            control_port=self.control_port,
            signature_scheme=self.session.signature_scheme,
            kernel_name=self.kernel_name,
            curve_publickey=self.curve_publickey,
            curve_secretkey=self.curve_secretkey,
            **kwargs,
        )
        self._record_random_port_names()
        for name in port_names:
            setattr(self, name, cfg[name])  # type: ignore[literal-required]
        self._connection_file_written = True

    def load_connection_file(self, connection_file: str | None = None) -> None:
        """Load (and validate) a connection file, default ``self.connection_file``."""
        if connection_file is None:
            connection_file = self.connection_file
        self.log.debug("Loading connection file %s", connection_file)
        info = read_connection_file(connection_file)
        self.load_connection_info(cast(KernelConnectionInfo, info))

    def load_connection_info(self, info: KernelConnectionInfo) -> None:
        """Adopt connection info; ports are only taken where ours are still 0."""
        checked = parse_connection_info(info)
        self.transport = checked.get("transport", self.transport)
        self.ip = checked.get("ip", self._ip_default())
        self._record_random_port_names()
        for name in port_names:
            if getattr(self, name) == 0 and name in checked:
                setattr(self, name, checked[name])
        if "key" in checked:
            key = checked["key"]
            self.session.key = key if isinstance(key, bytes) else key.encode()
        if "signature_scheme" in checked:
            self.session.signature_scheme = checked["signature_scheme"]
        if "curve_publickey" in checked and "curve_secretkey" in checked:
            pub, sec = checked["curve_publickey"], checked["curve_secretkey"]
            self.curve_publickey = pub.encode() if isinstance(pub, str) else pub
            self.curve_secretkey = sec.encode() if isinstance(sec, str) else sec

    def _reconcile_connection_info(self, info: KernelConnectionInfo) -> None:
        """Make the file and our state agree with what a provisioner returned (it wins)."""
        file_ok = False
        if os.path.exists(self.connection_file):
            file_info: dict[str, Any] = read_connection_file(self.connection_file)
            if isinstance(file_info.get("key"), str):
                file_info["key"] = file_info["key"].encode()
            if self._equal_connections(info, cast(KernelConnectionInfo, file_info)):
                file_ok = True
            else:
                os.remove(self.connection_file)
                self._connection_file_written = False
        if not file_ok:
            for name in port_names:
                setattr(self, name, 0)
            self.load_connection_info(info)
            self.write_connection_file()
        if not self._equal_connections(info, self.get_connection_info()):
            raise ValueError(
                "KernelManager's connection information already exists and does not match "
                "the expected values returned from provisioner!"
            )

    @staticmethod
    def _equal_connections(conn1: KernelConnectionInfo, conn2: KernelConnectionInfo) -> bool:
        """Whether two connection infos agree on every field that matters for connecting."""
        keys = (
            "key", "curve_publickey", "curve_secretkey", "ip", "stdin_port", "iopub_port",
            "shell_port", "control_port", "hb_port", "transport", "signature_scheme",
        )  # fmt: skip
        return all(conn1.get(k) == conn2.get(k) for k in keys)

    # -- sockets -------------------------------------------------------------------------
    def _make_url(self, channel: str) -> str:
        """``tcp://ip:port`` or ``ipc://ip-port`` for a channel."""
        port = getattr(self, f"{channel}_port")
        if self.transport == "tcp":
            return f"tcp://{self.ip}:{int(port)}"
        return f"{self.transport}://{self.ip}-{port}"

    def _create_connected_socket(self, channel: str, identity: bytes | None = None) -> zmq.Socket:
        """A socket of the channel's type, configured and connected to the kernel."""
        url = self._make_url(channel)
        self.log.debug("Connecting to: %s", url)
        sock: zmq.Socket = self.context.socket(channel_socket_types[channel])
        sock.linger = 1000
        if identity:
            sock.identity = identity
        if self.curve_publickey is not None:
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = self.curve_publickey
            sock.curve_serverkey = self.curve_publickey
        if channel == "iopub":
            # Subscribe before connecting so nothing published right after connect is lost.
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(url)
        return sock

    def connect_iopub(self, identity: bytes | None = None) -> zmq.Socket:
        """A SUB socket connected to IOPub, subscribed to everything."""
        return self._create_connected_socket("iopub", identity=identity)

    def connect_shell(self, identity: bytes | None = None) -> zmq.Socket:
        """A DEALER socket connected to the shell channel."""
        return self._create_connected_socket("shell", identity=identity)

    def connect_stdin(self, identity: bytes | None = None) -> zmq.Socket:
        """A DEALER socket connected to the stdin channel."""
        return self._create_connected_socket("stdin", identity=identity)

    def connect_hb(self, identity: bytes | None = None) -> zmq.Socket:
        """A REQ socket connected to the heartbeat channel."""
        return self._create_connected_socket("hb", identity=identity)

    def connect_control(self, identity: bytes | None = None) -> zmq.Socket:
        """A DEALER socket connected to the control channel."""
        return self._create_connected_socket("control", identity=identity)


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())

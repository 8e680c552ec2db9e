"""Local IP addresses, with upstream's names (``localhost()``, ``local_ips()`` ...).

Discovery runs once per process, lazily: psutil first (a hard dependency here, so the shell
fallbacks rarely run), then ``ip``/``ifconfig``, then ``gethostbyname_ex``, and finally safe
defaults with a warning. Classification rules live in
:mod:`jupyter_client.protocol.localinterfaces`. The returned lists are the module-level
``LOCAL_IPS``/``PUBLIC_IPS`` objects, as upstream returns them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import warnings
from collections.abc import Callable

from jupyter_client._lazy_names import upstream_names
from jupyter_client.protocol.localinterfaces import (
    IPInfo,
    classify,
    classify_list,
    parse_ifconfig,
    parse_ip_addr,
)

__all__ = [
    "LOCALHOST",
    "LOCAL_IPS",
    "PUBLIC_IPS",
    "NoIPAddresses",
    "is_local_ip",
    "is_public_ip",
    "local_ips",
    "localhost",
    "public_ips",
]

LOCAL_IPS: list[str] = []
PUBLIC_IPS: list[str] = []
LOCALHOST: str = ""

_loaded = False
_lock = threading.Lock()


class NoIPAddresses(Exception):  # upstream name
    """A discovery method found no addresses at all."""


def _from_psutil() -> IPInfo:
    import psutil

    addrs = {
        name: [a.address for a in entries if a.family == socket.AF_INET]
        for name, entries in psutil.net_if_addrs().items()
    }
    if not any(addrs.values()):
        raise NoIPAddresses
    return classify(addrs)


def _run(cmd: list[str]) -> str:
    exe = shutil.which(cmd[0]) or (f"/sbin/{cmd[0]}" if os.path.exists(f"/sbin/{cmd[0]}") else None)
    if exe is None:
        raise NoIPAddresses
    out = subprocess.run(
        [exe, *cmd[1:]], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    return out


def _from_tool(cmd: list[str], parse: Callable[[str], list[str]]) -> IPInfo:
    ips = parse(_run(cmd))
    if not ips:
        raise NoIPAddresses
    return classify_list(ips)


def _from_hostname() -> IPInfo:
    ips = socket.gethostbyname_ex(socket.gethostname())[2]
    ips += socket.gethostbyname_ex("localhost")[2]
    if not ips:
        raise NoIPAddresses
    return classify_list(ips)


def _discover() -> IPInfo:
    methods: list[Callable[[], IPInfo]] = [
        _from_psutil,
        lambda: _from_tool(["ip", "-f", "inet", "addr"], parse_ip_addr),
        lambda: _from_tool(["ifconfig"], parse_ifconfig),
        _from_hostname,
    ]
    for method in methods:
        try:
            return method()
        except NoIPAddresses:
            continue
        except Exception as e:
            warnings.warn(
                f"Unexpected error discovering local network interfaces: {e}", stacklevel=3
            )
            break
    return IPInfo(local=["127.0.0.1", "0.0.0.0", ""], public=[], localhost="127.0.0.1")


def _load_ips(suppress_exceptions: bool = True) -> None:
    """Fill the module lists once (upstream name; ``suppress_exceptions`` kept for compat)."""
    global _loaded, LOCALHOST
    with _lock:
        if _loaded:
            return
        info = _discover()
        LOCAL_IPS[:] = info.local
        PUBLIC_IPS[:] = info.public
        LOCALHOST = info.localhost
        _loaded = True


def local_ips() -> list[str]:
    """All IP addresses that point to this machine (plus ``0.0.0.0`` and ``""``)."""
    _load_ips()
    return LOCAL_IPS


def public_ips() -> list[str]:
    """IP addresses other hosts may reach this machine on."""
    _load_ips()
    return PUBLIC_IPS


def localhost() -> str:
    """The loopback address to use (normally ``127.0.0.1``)."""
    _load_ips()
    return LOCALHOST


def is_local_ip(ip: str) -> bool:
    """Whether ``ip`` refers to this machine."""
    _load_ips()
    return ip in LOCAL_IPS


def is_public_ip(ip: str) -> bool:
    """Whether ``ip`` is one of this machine's public addresses."""
    _load_ips()
    return ip in PUBLIC_IPS


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())

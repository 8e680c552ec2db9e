"""Pure logic behind ``jupyter_client.localinterfaces``: from interface addresses to the
local / public / localhost classification.

Discovery (psutil, ``ip``, ``ifconfig``, ``gethostbyname``) is I/O and lives in the façade;
this module only turns what was discovered into upstream's three answers, so the rules can be
tested without touching the host's network configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["IPInfo", "classify", "classify_list", "parse_ifconfig", "parse_ip_addr", "uniq"]


def uniq(items: Iterable[str]) -> list[str]:
    """De-duplicate preserving first occurrence."""
    seen: set[str] = set()
    out: list[str] = []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


@dataclass
class IPInfo:
    """The classification result: all local IPs, the public ones, and the loopback to use."""

    local: list[str] = field(default_factory=list)
    public: list[str] = field(default_factory=list)
    localhost: str = "127.0.0.1"


def _finish(local: list[str], public: list[str], localhost: str | None) -> IPInfo:
    local = list(local)
    if not localhost or localhost == "127.0.0.1":
        localhost = "127.0.0.1"
        local.insert(0, localhost)
    local.extend(["0.0.0.0", ""])
    return IPInfo(local=uniq(local), public=uniq(public), localhost=localhost)


def classify(addrs: Mapping[str, Sequence[str]]) -> IPInfo:
    """Classify ``{interface name: [IPv4 addresses]}``.

    Every address is local; loopback is the first address on an ``lo*`` interface or in
    127/8; public means neither loopback nor link-local (169.254/16).
    """
    local: list[str] = []
    public: list[str] = []
    localhost: str | None = None
    for iface, ips in addrs.items():
        loopback_iface = iface.startswith("lo")
        for ip in ips:
            local.append(ip)
            if not localhost and (loopback_iface or ip.startswith("127.")):
                localhost = ip
            if not loopback_iface and not ip.startswith(("127.", "169.254.")):
                public.append(ip)
    return _finish(local, public, localhost)


def classify_list(ips: Sequence[str]) -> IPInfo:
    """Classify a flat address list (from tools that do not name interfaces)."""
    local = list(ips)
    public = [ip for ip in ips if not ip.startswith(("127.", "169.254."))]
    localhost = next((ip for ip in ips if ip.startswith("127.")), None)
    return _finish(local, public, localhost)


_INET = re.compile(r"^\s*inet\s+(?:addr:)?(\d+\.\d+\.\d+\.\d+)")


def parse_ip_addr(text: str) -> list[str]:
    """IPv4 addresses from ``ip -f inet addr`` output."""
    return [m.group(1) for m in map(_INET.match, text.splitlines()) if m]


def parse_ifconfig(text: str) -> list[str]:
    """IPv4 addresses from Linux or BSD ``ifconfig`` output."""
    return parse_ip_addr(text)

"""localinterfaces: classification rules (pure) and discovery on this host."""

from __future__ import annotations

from jupyter_client import localinterfaces
from jupyter_client.protocol.localinterfaces import classify, classify_list, parse_ip_addr


def test_discovery_on_this_host() -> None:
    assert localinterfaces.localhost() == "127.0.0.1"
    ips = localinterfaces.local_ips()
    assert ips is localinterfaces.LOCAL_IPS and ips[0] == "127.0.0.1"
    assert ips[-2:] == ["0.0.0.0", ""] and len(set(ips)) == len(ips)
    assert localinterfaces.is_local_ip("127.0.0.1") and localinterfaces.is_local_ip("")
    assert not localinterfaces.is_local_ip("203.0.113.77")
    for ip in localinterfaces.public_ips():
        assert localinterfaces.is_public_ip(ip) and ip in ips
    assert not localinterfaces.is_public_ip("127.0.0.1")


def test_classify_interfaces() -> None:
    info = classify({"lo": ["127.0.0.1"], "eth0": ["10.0.0.5", "169.254.1.1"],
                     "wlan0": ["10.0.0.5", "192.168.1.2"]})  # fmt: skip
    assert info.localhost == "127.0.0.1"
    assert info.local == ["127.0.0.1", "10.0.0.5", "169.254.1.1", "192.168.1.2", "0.0.0.0", ""]
    assert info.public == ["10.0.0.5", "192.168.1.2"]


def test_classify_odd_loopback() -> None:
    info = classify({"lo0": ["127.0.1.1"], "en0": ["192.168.0.3"]})
    assert info.localhost == "127.0.1.1" and info.local[0] == "127.0.1.1"
    assert classify({"en0": ["192.168.0.3"]}).local[0] == "127.0.0.1"


def test_classify_list_and_parsers() -> None:
    text = (
        "1: lo: <LOOPBACK,UP>\n    inet 127.0.0.1/8 scope host lo\n"
        "2: eth0: <UP>\n    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n"
        "eth1      Link encap:Ethernet\n          inet addr:10.1.2.3  Bcast:10.1.2.255\n"
    )
    ips = parse_ip_addr(text)
    assert ips == ["127.0.0.1", "192.0.2.2", "10.1.2.3"]
    info = classify_list(ips)
    assert info.public == ["192.0.2.2", "10.1.2.3"] and info.localhost == "127.0.0.1"

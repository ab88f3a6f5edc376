"""Which addresses telecon's server may connect to when it fetches a URL a user typed (``telecon.egress``)."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from telecon.egress import addressable, reachable, refused_before_lookup

OWN_CALDAV = ip_network("10.1.2.0/24")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("93.184.215.14", True),  # a public IPv4 address
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),  # a public IPv6 address
        ("127.0.0.1", False),  # loopback
        ("::1", False),
        ("::ffff:127.0.0.1", False),  # loopback, IPv4-mapped
        ("::ffff:93.184.215.14", True),
        ("10.0.0.5", False),  # private networks
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("fd00::1", False),  # unique local
        ("169.254.169.254", False),  # link-local: cloud metadata services
        ("fe80::1", False),
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("0.0.0.0", False),  # noqa: S104 (the unspecified address, refused)
        ("224.0.0.1", False),  # multicast
        ("ff02::1", False),
        ("255.255.255.255", False),  # broadcast
        ("192.0.2.1", False),  # documentation
        ("10.1.2.3", True),  # in the allowed network
        ("10.1.3.3", False),  # next to it
    ],
)
def test_reachable(address: str, expected: bool) -> None:
    assert reachable(ip_address(address), [OWN_CALDAV]) is expected


def test_an_allowed_network_opens_exactly_itself() -> None:
    assert reachable(ip_address("127.0.0.1"), [ip_network("127.0.0.0/8")])
    assert reachable(ip_address("::ffff:127.0.0.1"), [ip_network("127.0.0.0/8")])
    assert not reachable(ip_address("::1"), [ip_network("127.0.0.0/8")])
    assert not reachable(ip_address("10.1.2.3"), [])


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("calendar.example", False),  # a name: checked when it is connected
        ("93.184.215.14", False),
        ("127.0.0.1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("printer.local", True),
        ("app.localhost", True),
        ("10.1.2.3", False),  # allowed below
        ("10.9.9.9", True),
    ],
)
def test_refused_before_lookup(host: str, refused: bool) -> None:
    assert refused_before_lookup(host, [OWN_CALDAV]) is refused


def test_localhost_is_allowed_with_loopback() -> None:
    assert not refused_before_lookup("localhost", [ip_network("127.0.0.0/8")])


def test_addressable() -> None:
    assert addressable("https://calendar.example/a.ics")
    assert addressable("https://bücher.example/a.ics")
    assert not addressable("https://xn--/a.ics")

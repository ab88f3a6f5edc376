"""Whose address a request has: the peer, or what trusted proxies vouch for in ``X-Forwarded-For``."""

from __future__ import annotations

import pytest

from telecon.addresses import forwarded_client
from telecon.settings import Settings

PROXIES = Settings(trusted_proxies="10.0.0.5, 172.16.0.0/12, fd00::/8").trusted_proxies  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # An untrusted peer: its header is ignored, whatever it says.
        ("198.51.100.7", ["203.0.113.1"], "198.51.100.7"),
        ("198.51.100.7", ["10.0.0.5"], "198.51.100.7"),
        ("198.51.100.7", [], "198.51.100.7"),
        # A trusted proxy: the right-most address it does not vouch for.
        ("10.0.0.5", ["198.51.100.7"], "198.51.100.7"),
        ("10.0.0.5", ["203.0.113.66, 198.51.100.7"], "198.51.100.7"),  # the left entry is the client's own
        ("10.0.0.5", ["203.0.113.66", "198.51.100.7"], "198.51.100.7"),  # the header given twice
        ("10.0.0.5", ["198.51.100.7, 172.20.0.3"], "198.51.100.7"),  # through two trusted proxies
        ("172.20.0.3", ["198.51.100.7 ,10.0.0.5"], "198.51.100.7"),
        ("10.0.0.5", ["198.51.100.7:4711"], "198.51.100.7"),  # some proxies add the port
        ("10.0.0.5", ["[2001:db8::7]:4711"], "2001:db8::7"),
        ("10.0.0.5", ["2001:db8::7"], "2001:db8::7"),
        ("10.0.0.5", ["::ffff:198.51.100.7"], "198.51.100.7"),
        ("fd12::1", ["198.51.100.7"], "198.51.100.7"),
        ("::ffff:10.0.0.5", ["198.51.100.7"], "198.51.100.7"),
        # A trusted proxy without a header, or only trusted hops: the left-most trusted hop.
        ("10.0.0.5", [], "10.0.0.5"),
        ("10.0.0.5", ["172.20.0.3"], "172.20.0.3"),
        # Garbage stops the walk at the last trusted hop; it never becomes the address.
        ("10.0.0.5", ["not-an-address"], "10.0.0.5"),
        ("10.0.0.5", ["198.51.100.7, unknown"], "10.0.0.5"),
        ("10.0.0.5", ["unknown, 198.51.100.7"], "198.51.100.7"),
        ("10.0.0.5", ["<script>, 172.20.0.3"], "172.20.0.3"),
        ("10.0.0.5", [" , ,"], "10.0.0.5"),
        # No peer address (a Unix socket) and nothing to trust.
        (None, ["198.51.100.7"], None),
    ],
)
def test_forwarded_client(peer: str | None, headers: list[str], expected: str | None) -> None:
    assert forwarded_client(peer, headers, PROXIES) == expected


def test_nobody_is_trusted_by_default() -> None:
    assert Settings().trusted_proxies == []
    assert forwarded_client("127.0.0.1", ["198.51.100.7"], Settings().trusted_proxies) == "127.0.0.1"


def test_trusted_proxies_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECON_TRUSTED_PROXIES", "10.0.0.5,172.16.0.0/12  ::1")
    assert [str(n) for n in Settings().trusted_proxies] == ["10.0.0.5/32", "172.16.0.0/12", "::1/128"]
    monkeypatch.setenv("TELECON_TRUSTED_PROXIES", "10.0.0.5, proxy.example.org")
    with pytest.raises(ValueError, match=r"TELECON_TRUSTED_PROXIES: 'proxy.example.org' is not an IP address"):
        Settings()

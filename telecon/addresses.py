"""Who sent a request: the TCP peer, or what a trusted reverse proxy says it saw (``TELECON_TRUSTED_PROXIES``).

The login and join-link throttles count per address and the audit trail records it, so a client must not be
able to choose its own address by sending ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection

from telecon.settings import Settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The address of whoever sent the request, for throttles and the audit trail (see ``forwarded_client``)."""
    settings: Settings = connection.app.state.settings
    return forwarded_client(
        connection.client.host if connection.client else None,
        connection.headers.getall("x-forwarded-for", []),
        settings.trusted_proxies,
    )


def forwarded_client(peer: str | None, forwarded_for: list[str], trusted: list[IPNetwork]) -> str | None:
    """The TCP peer, unless the peer is a trusted proxy: then the right-most ``X-Forwarded-For`` address
    that is not a trusted proxy itself.

    Each proxy appends the address it saw, so only the entries from the right up to the first untrusted one
    are vouched for; whatever lies further left, the client wrote itself. An entry that is not an address
    stops the walk at the last trusted hop. Nobody is trusted by default (``TELECON_TRUSTED_PROXIES``), and
    uvicorn's own header handling is off (``telecon serve``), so this is the only place that reads the header.
    """
    if not trusted or peer is None:
        return peer  # the common case, on every authenticated request: nothing to parse
    peer_address = _parse_address(peer)
    if peer_address is None:
        return peer
    client = peer_address
    if _is_trusted(client, trusted):
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _parse_address(hop)
            if address is None:
                break
            client = address
            if not _is_trusted(address, trusted):
                break
    return str(client)


def _parse_address(value: str) -> IPAddress | None:
    """An address as proxies write it: bare, or with a port (``192.0.2.1:4711``, ``[2001:db8::1]:4711``)."""
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, trusted: list[IPNetwork]) -> bool:
    return any(address in network for network in trusted)

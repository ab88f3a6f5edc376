"""Outgoing HTTP to an address a user typed: only to the public internet, unless the operator allows a network.

A specialist's calendar URL is fetched by telecon's server, from inside the operator's network. Unguarded, anyone
who may connect a calendar could make the server request ``http://10.0.0.5/admin`` or a cloud's metadata address
and learn from the error whether something answered there. ``public_client`` checks the address each connection
really goes to, after name resolution and for every redirect, and connects to exactly that address, so a name that
resolves to a private address (or starts to: DNS rebinding) is refused as well::

    async with public_client(allowed=[ip_network("10.1.2.0/24")]) as client:
        await client.get("http://127.0.0.1:8080/")      # NotPublic, nothing is connected
        await client.get("http://10.1.2.3/work.ics")     # allowed: the operator's own calendar server
        await client.get("https://calendar.example/")    # connects to the public address it checked

A proxy from the environment (``HTTPS_PROXY``) is used as httpx uses it; then the proxy decides where to connect.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import anyio
import httpcore
import httpx

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class NotPublic(Exception):
    """The host resolves to an address outside the public internet that no allowed network holds."""


def reachable(address: IPAddress, allowed: Iterable[IPNetwork]) -> bool:
    """Whether a connection to ``address`` may be made: a global unicast address, or one in ``allowed``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in allowed):
        return True
    return address.is_global and not address.is_multicast


LOCAL_NAMES = ("localhost", "localhost.localdomain")
"""Names that always mean this machine (loopback)."""
LINK_SUFFIXES = (".localhost", ".local")
"""Names of this machine or of its link (mDNS): never on the public internet."""


def refused_before_lookup(host: str, allowed: Iterable[IPNetwork] = ()) -> bool:
    """Whether a URL's host is refused without looking it up, for an early answer at a form: an address
    ``reachable`` refuses, or a name of this machine or its link. Any other name is checked when it is connected."""
    name = host.lower().rstrip(".")
    if name in LOCAL_NAMES:
        return not reachable(ipaddress.IPv4Address("127.0.0.1"), allowed)
    if name.endswith(LINK_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not reachable(address, allowed)


def addressable(url: str) -> bool:
    """Whether httpx can address the URL's host at all (``https://xn--/`` is no valid name: it raises there)."""
    try:
        httpx.URL(url).host  # noqa: B018 (reading the host is the check)
    except (httpx.InvalidURL, UnicodeError):
        return False
    return True


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own network backend, behind a resolution that checks every address of the host first."""

    def __init__(self, allowed: Sequence[IPNetwork]) -> None:
        self._allowed = tuple(allowed)
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        except OSError as error:
            raise httpcore.ConnectError(f"{host} could not be resolved: {error}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
        if not addresses or not all(reachable(address, self._allowed) for address in addresses):
            raise NotPublic(f"{host} is not on the public internet")
        failure: Exception = httpcore.ConnectError(f"{host} could not be reached")
        for address in addresses:  # in the resolver's order, as a socket connect would try them
            try:
                return await self._backend.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise NotPublic("a local socket is not on the public internet")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport whose connection pool connects through ``_CheckedBackend`` (httpx has no parameter for
    the network backend, so the pool it made is replaced by an equal one that has it)."""

    def __init__(self, allowed: Sequence[IPNetwork]) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_CheckedBackend(allowed)
        )


def public_client(allowed: Sequence[IPNetwork] = (), **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` (``options`` as httpx takes them) that connects only to public addresses and to
    those in ``allowed``; any other raises ``NotPublic`` before a connection is made."""
    return httpx.AsyncClient(transport=_CheckedTransport(allowed), **options)

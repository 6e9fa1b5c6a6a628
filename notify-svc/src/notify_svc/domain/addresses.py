"""Which network addresses a webhook may be sent to (no server-side request forgery).

A webhook target must be a public address. Loopback and private ranges are admitted only when
the deployment allows private targets (local development); link-local (cloud metadata at
169.254.169.254 included), multicast, unspecified and reserved addresses never are. IPv6
addresses that embed an IPv4 one (mapped, 6to4, NAT64) are judged by the embedded address.

The check runs on the URL's host when the subscription is made, and again on every address
the host resolves to right before each delivery (so a name that later resolves inward, DNS
rebinding, is still refused); the delivery then connects to the address that was checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def parse_ip(text: str) -> IPAddress | None:
    """The address when `text` is an IP literal (brackets and zone index tolerated), else None."""
    candidate = text.strip().removeprefix("[").removesuffix("]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_kind(address: IPAddress) -> str:
    """'public', or what makes the address internal: 'loopback', 'private', 'link-local',
    'multicast', 'unspecified' or 'reserved'."""
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)):
        return address_kind(inner)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return "private"
    if address.is_private:
        # Also documentation and benchmarking ranges; never reachable from outside anyway.
        return "private"
    if not address.is_global:
        return "reserved"
    return "public"


ADMITTED_WHEN_PRIVATE_ALLOWED = frozenset({"public", "loopback", "private"})


def address_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why a webhook may not be sent to `address`, or None when it may."""
    kind = address_kind(address)
    if kind == "public" or (allow_private and kind in ADMITTED_WHEN_PRIVATE_ALLOWED):
        return None
    hint = (
        " (private targets are allowed in this deployment, but never this kind)"
        if allow_private
        else ""
    )
    return f"{address} is a {kind} address; webhooks go to public addresses only{hint}"


def host_problem(host: str, *, allow_private: bool) -> str | None:
    """The check a host can get without DNS: an IP literal is judged, 'localhost' is loopback."""
    address = parse_ip(host)
    if address is not None:
        return address_problem(address, allow_private=allow_private)
    name = host.strip().rstrip(".").lower()
    if (name in LOCAL_NAMES or name.endswith(".localhost")) and not allow_private:
        return f"{host} is a loopback address; webhooks go to public addresses only"
    return None


def resolved_problem(
    host: str, addresses: Iterable[IPAddress], *, allow_private: bool
) -> str | None:
    """Every address a name resolves to must be admitted (one inward address is enough to
    refuse: the connection could land on it)."""
    found = list(addresses)
    if not found:
        return f"{host} did not resolve to any address"
    for address in found:
        if problem := address_problem(address, allow_private=allow_private):
            return f"{host} resolves to {problem}"
    return None

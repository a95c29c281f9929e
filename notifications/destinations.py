"""Where a webhook may be sent: server-side request forgery protection.

A callback URL is checked when it is submitted and again before every attempt (DNS can change
between the two): http(s) only, no credentials, and every address its host resolves to must be
public. The attempt then connects to the address that was checked, never resolving again.
"""

import concurrent.futures
import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass

MAX_URL_LENGTH = 2000
SCHEMES = {"http": 80, "https": 443}
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# getaddrinfo() has no timeout of its own; a few threads bound how long a lookup may take.
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedURL(ValueError):
    """The URL must not be called, whatever happens next."""


class UnresolvedHost(RefusedURL):
    """The host did not resolve (in time): refused at submission, retried at delivery."""


@dataclass(frozen=True)
class Destination:
    url: str
    scheme: str
    host: str  # as in the URL, lowercase, IPv6 without brackets
    port: int
    address: IPAddress  # the checked address to connect to


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why a webhook must not reach `address`, or None if it is a public unicast address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and (reason := address_refusal(embedded)):
        return reason
    for reason, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return reason
    # Shared (carrier-grade NAT), documentation and other special ranges.
    if embedded is None and not address.is_global:
        return "not public"
    return None


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    future = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise UnresolvedHost(f"the host {host} did not resolve within {timeout:g} s") from None
    except (socket.gaierror, UnicodeError) as error:
        raise UnresolvedHost(f"the host {host} does not resolve ({error})") from None
    # Scope ids ("fe80::1%eth0") are not part of the address.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def _parse(url: str) -> tuple[str, str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise RefusedURL(f"Use at most {MAX_URL_LENGTH} characters.")
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        raise RefusedURL("Use a URL of printable ASCII characters (an IDN host in punycode).")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RefusedURL(f"This is not a valid URL: {error}.") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise RefusedURL("Use an http:// or https:// URL.")
    if "@" in parts.netloc:
        raise RefusedURL("Put no user name or password in the URL.")
    host = parts.hostname or ""
    if not host:
        raise RefusedURL("The URL has no host.")
    return scheme, host, port or SCHEMES[scheme]


def _normalised(host: str) -> str:
    return host.strip().lower().removeprefix("[").removesuffix("]")


def destination_check(*, url: str, allowed_hosts: list[str], dns_timeout: float) -> Destination:
    """The checked destination of `url`; raises RefusedURL (UnresolvedHost if DNS failed)."""
    scheme, host, port = _parse(url)
    addresses = _resolve(host, port, dns_timeout)
    if not addresses:
        raise UnresolvedHost(f"the host {host} has no address")
    if host not in {_normalised(allowed) for allowed in allowed_hosts}:
        for address in addresses:
            if reason := address_refusal(address):
                shown = "" if host == str(address) else f"{host} resolves to "
                raise RefusedURL(
                    f"Refused: {shown}{address}, a {reason} address "
                    "(webhooks go to public addresses only)."
                )
    return Destination(url=url, scheme=scheme, host=host, port=port, address=addresses[0])

import ipaddress
import socket
import time

import pytest

from notifications import destinations
from notifications.destinations import RefusedURL, UnresolvedHost


def check(url: str, allowed: list[str] | None = None) -> destinations.Destination:
    return destinations.destination_check(url=url, allowed_hosts=allowed or [], dns_timeout=2)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost/hook", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://LOCALHOST:8080/", "loopback"),
        ("http://127.0.0.1/", "127.0.0.1, a loopback address"),
        ("http://127.1.2.3/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 written as one number
        ("http://0x7f.1/", "loopback"),
        ("http://[::1]/", "::1, a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
        ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
        ("http://10.0.0.1/", "10.0.0.1, a private address"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://0/", "unspecified"),
        ("http://100.64.0.1/", "not public"),  # carrier-grade NAT
        ("http://192.0.2.10/", "private"),  # documentation
        ("http://240.0.0.1/", "private"),  # reserved; Python counts 240/4 as private too
    ],
)
def test_destination_check_refuses_addresses_that_are_not_public(url, reason):
    with pytest.raises(RefusedURL, match="Refused: ") as refused:
        check(url)
    assert reason in str(refused.value)
    assert not isinstance(refused.value, UnresolvedHost)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://127.0.0.1:6379/", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("//example.com/", "http:// or https://"),
        ("http://user:pass@8.8.8.8/", "no user name or password"),
        ("http://user@8.8.8.8/", "no user name or password"),
        ("http:///path", "no host"),
        ("http://8.8.8.8:99999/", "not a valid URL"),
        ("http://8.8.8.8/a b", "printable ASCII"),
        ("http://bücher.example/", "printable ASCII"),
        ("http://8.8.8.8/\n", "printable ASCII"),
        ("http://[::1/", "not a valid URL"),
        ("http://8.8.8.8/" + "a" * 2000, "at most 2000"),
    ],
)
def test_destination_check_refuses_malformed_urls(url, message):
    with pytest.raises(RefusedURL, match=message):
        check(url)


def test_destination_check_refuses_a_host_that_does_not_resolve():
    with pytest.raises(UnresolvedHost, match="does not resolve"):
        check("https://no-such-host.invalid/hook")


def test_destination_check_bounds_a_slow_dns_lookup(monkeypatch):
    monkeypatch.setattr(destinations.socket, "getaddrinfo", lambda *a, **k: time.sleep(3))
    started = time.monotonic()
    with pytest.raises(UnresolvedHost, match=r"did not resolve within 0\.2 s"):
        destinations.destination_check(
            url="https://slow.example/", allowed_hosts=[], dns_timeout=0.2
        )
    assert time.monotonic() - started < 1


def fake_dns(monkeypatch, names: dict[str, list[str]]) -> None:
    """Resolve made-up names to the given addresses, and nothing else: what the machine's
    resolver says about a name (even localhost) is not this test's to rely on."""

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in names[host]
        ]

    monkeypatch.setattr(destinations.socket, "getaddrinfo", getaddrinfo)


def test_destination_check_refuses_a_name_that_resolves_to_loopback(monkeypatch):
    fake_dns(monkeypatch, {"internal.example": ["127.0.0.1"], "public.example": ["8.8.8.8"]})
    with pytest.raises(RefusedURL) as refused:
        check("https://internal.example/hook")
    assert str(refused.value) == (
        "Refused: internal.example resolves to 127.0.0.1, a loopback address "
        "(webhooks go to public addresses only)."
    )
    assert not isinstance(refused.value, UnresolvedHost)
    # The same fake lets a public name through: the refusal is the address's, not the fake's.
    assert check("https://public.example/hook").address == ipaddress.ip_address("8.8.8.8")


def test_destination_check_refuses_a_name_when_any_of_its_addresses_is_not_public(monkeypatch):
    # A name with a public and a private address: the attempt might reach either.
    fake_dns(monkeypatch, {"split.example": ["8.8.8.8", "10.0.0.7"], "six.example": ["::1"]})
    with pytest.raises(RefusedURL) as refused:
        check("http://split.example/hook")
    assert "split.example resolves to 10.0.0.7, a private address" in str(refused.value)
    with pytest.raises(RefusedURL) as refused:
        check("http://six.example/hook")
    assert "six.example resolves to ::1, a loopback address" in str(refused.value)


def test_destination_check_accepts_a_public_address_and_pins_it():
    destination = check("https://8.8.8.8:8443/hooks?x=1")
    assert destination.address == ipaddress.ip_address("8.8.8.8")
    assert (destination.scheme, destination.host, destination.port) == ("https", "8.8.8.8", 8443)
    assert check("http://[2606:4700:4700::1111]/").port == 80


def test_destination_check_lets_allowed_hosts_through_as_written_in_the_url():
    assert check("http://127.0.0.1:9/", ["127.0.0.1"]).address == ipaddress.ip_address("127.0.0.1")
    assert check("http://localhost:9/", ["LOCALHOST"]).host == "localhost"
    assert check("http://[::1]:9/", ["[::1]"]).address == ipaddress.ip_address("::1")
    # Allowing the address does not allow a name that resolves to it, nor the reverse.
    with pytest.raises(RefusedURL):
        check("http://localhost:9/", ["127.0.0.1"])
    with pytest.raises(RefusedURL):
        check("http://127.0.0.1:9/", ["localhost"])


def test_address_refusal_passes_public_unicast_addresses():
    for address in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::"):
        assert destinations.address_refusal(ipaddress.ip_address(address)) is None

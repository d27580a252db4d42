"""IP addresses: every address someone can be reached at is masked; the unspecified, loopback,
broadcast and netmask addresses of setup guides and configs are not."""

from __future__ import annotations

import pytest

from proxy.recognizers.ip_addresses import AddressableIpRecognizer


def found(text: str) -> list[str]:
    return [text[r.start : r.end] for r in AddressableIpRecognizer().analyze(text, ["IP_ADDRESS"])]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("the client 81.2.69.160 logged in twice", "81.2.69.160"),
        ("my router is 192.168.1.20", "192.168.1.20"),
        ("request from 2a02:8070:a1b2::17 failed", "2a02:8070:a1b2::17"),
        ("pod ip 10.0.0.12", "10.0.0.12"),
    ],
)
def test_addresses_someone_is_reached_at_are_found(text: str, address: str) -> None:
    assert address in found(text)


@pytest.mark.parametrize(
    "text",
    [
        'app.run(host="0.0.0.0", port=8000)',
        "curl http://127.0.0.1:8080/healthz",
        "listen [::1]:443 and [::]:80",
        "netmask 255.255.255.0 broadcast 255.255.255.255",
    ],
)
def test_addresses_that_name_no_host_are_left(text: str) -> None:
    assert found(text) == []

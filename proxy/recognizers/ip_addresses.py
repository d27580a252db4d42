"""IP addresses, without the ones that name no machine of anyone's.

Presidio's IpRecognizer masks every valid address, including `0.0.0.0` in `app.run(host="0.0.0.0")`,
`127.0.0.1` and `::1` in every local setup guide, and netmasks such as `255.255.255.0`: none of
them identifies a person or even a host outside the machine that reads the text, and masking them
changes the configuration the model is asked about. This subclass keeps Presidio's patterns and
validation and drops the unspecified, loopback, broadcast and netmask addresses. Private ranges
(10/8, 192.168/16, ...) stay masked: a home network's address can be linked to a household.
"""

from __future__ import annotations

import ipaddress

from presidio_analyzer.predefined_recognizers import IpRecognizer


class AddressableIpRecognizer(IpRecognizer):
    """IP_ADDRESS, minus unspecified, loopback, broadcast and netmask addresses. Not named
    IpRecognizer: Presidio's registry finds recognizer classes by class name."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_language=supported_language, name="ConsentryIpRecognizer")

    def invalidate_result(self, pattern_text: str) -> bool:
        if super().invalidate_result(pattern_text):
            return True
        return names_no_host(pattern_text)


def names_no_host(text: str) -> bool:
    """An address no one is reached at: 0.0.0.0, ::, 127.0.0.0/8, ::1, broadcast, a netmask."""
    try:
        address = ipaddress.ip_interface(text).ip
    except ValueError:
        return False
    if address.is_unspecified or address.is_loopback:
        return True
    if isinstance(address, ipaddress.IPv4Address):
        bits = int(address)
        # a netmask: ones then zeros (255.255.255.0, 255.255.0.0); 255.255.255.255 is broadcast
        inverted = ~bits & 0xFFFFFFFF
        return bits != 0 and (inverted & (inverted + 1)) == 0
    return False

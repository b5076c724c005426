"""What a TLS certificate says: subject, issuer, names and dates, read from its DER bytes.

The standard library only decodes a certificate it has verified
(``getpeercert()``); ``wsapi doctor`` also shows the certificates that fail
verification, so it reads the few fields it needs from the DER encoding itself
(X.509, RFC 5280 section 4.1). Anything it cannot read makes ``parse_certificate``
return ``None``: diagnostics never fail because of a certificate they cannot show.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = ["CertificateInfo", "parse_certificate"]

_ATTRIBUTE_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "1.2.840.113549.1.9.1": "emailAddress",
}
_SUBJECT_ALT_NAME = "2.5.29.17"
_BASIC_CONSTRAINTS = "2.5.29.19"


@dataclass(frozen=True)
class CertificateInfo:
    """The facts of a certificate a person needs to fix a TLS failure."""

    subject: str  # "CN=example.com, O=Example"
    issuer: str
    not_before: datetime  # UTC
    not_after: datetime  # UTC
    names: tuple[str, ...] = ()  # subjectAltName: DNS names and IP addresses
    is_ca: bool = False

    @property
    def self_signed(self) -> bool:
        """Issued by itself (subject and issuer are the same name)."""
        return self.subject == self.issuer

    def validity(self, now: datetime | None = None) -> str:
        """``"valid until 2031-01-01 (in 1500 days)"`` or ``"expired on ... (3 days ago)"``."""
        now = now or datetime.now(timezone.utc)
        if now < self.not_before:
            days = (self.not_before - now).days
            return f"not valid before {_date(self.not_before)} (in {days} days)"
        days = (self.not_after - now).days
        if now > self.not_after:
            return f"expired on {_date(self.not_after)} ({-days} days ago)"
        return f"valid until {_date(self.not_after)} (in {days} days)"


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class _DERError(ValueError):
    pass


def _read(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """One TLV at ``offset``: (tag, value, offset after it)."""
    if offset + 2 > len(data):
        raise _DERError("truncated")
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise _DERError("bad length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise _DERError("truncated")
    return tag, data[offset:end], end


def _children(data: bytes) -> list[tuple[int, bytes]]:
    items = []
    offset = 0
    while offset < len(data):
        tag, value, offset = _read(data, offset)
        items.append((tag, value))
    return items


def _oid(value: bytes) -> str:
    if not value:
        raise _DERError("empty OID")
    arcs = [value[0] // 40, value[0] % 40] if value[0] < 80 else [2, value[0] - 80]
    number = 0
    for byte in value[1:]:
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(number)
            number = 0
    return ".".join(str(arc) for arc in arcs)


def _string(tag: int, value: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return value.decode("utf-16-be", errors="replace")
    if tag == 0x1C:  # UniversalString
        return value.decode("utf-32-be", errors="replace")
    encoding = "utf-8" if tag == 0x0C else "latin-1"
    return value.decode(encoding, errors="replace")


def _name(data: bytes) -> str:
    parts = []
    for _, rdn in _children(data):
        for _, attribute in _children(rdn):
            (_, oid), (tag, value), *_ = _children(attribute)
            key = _oid(oid)
            parts.append(f"{_ATTRIBUTE_NAMES.get(key, key)}={_string(tag, value)}")
    return ", ".join(parts)


def _time(tag: int, value: bytes) -> datetime:
    text = value.decode("ascii").rstrip("Z")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSS
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


def _alt_names(value: bytes) -> tuple[str, ...]:
    _, names, _ = _read(value, 0)
    found = []
    for tag, item in _children(names):
        if tag == 0x82:  # dNSName
            found.append(item.decode("ascii", errors="replace"))
        elif tag == 0x87 and len(item) in (4, 16):  # iPAddress
            found.append(str(ipaddress.ip_address(item)))
    return tuple(found)


def _is_ca(value: bytes) -> bool:
    _, constraints, _ = _read(value, 0)
    children = _children(constraints)
    return bool(children) and children[0][0] == 0x01 and children[0][1] != b"\x00"


def parse_certificate(der: bytes) -> CertificateInfo | None:
    """Read a DER certificate's subject, issuer, dates and names; None if it cannot.

    >>> parse_certificate(b"not a certificate") is None
    True
    """
    try:
        _, certificate, _ = _read(der, 0)
        _, tbs, _ = _read(certificate, 0)
        fields = _children(tbs)
        if fields and fields[0][0] == 0xA0:  # [0] version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
        issuer = _name(fields[2][1])
        (before_tag, before), (after_tag, after) = _children(fields[3][1])[:2]
        subject = _name(fields[4][1])
        names: tuple[str, ...] = ()
        is_ca = False
        for tag, value in fields[6:]:
            if tag != 0xA3:  # [3] extensions
                continue
            _, extensions, _ = _read(value, 0)
            for _, extension in _children(extensions):
                parts = _children(extension)
                key = _oid(parts[0][1])
                octets = parts[-1][1]
                if key == _SUBJECT_ALT_NAME:
                    names = _alt_names(octets)
                elif key == _BASIC_CONSTRAINTS:
                    is_ca = _is_ca(octets)
        return CertificateInfo(
            subject=subject,
            issuer=issuer,
            not_before=_time(before_tag, before),
            not_after=_time(after_tag, after),
            names=names,
            is_ca=is_ca,
        )
    except (ValueError, IndexError, UnicodeDecodeError):
        return None

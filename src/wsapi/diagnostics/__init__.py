"""Diagnostics: what failed, where, and how to fix it.

``diagnose(url)`` runs the stages of a connection one by one and returns a
``DoctorReport``; ``wsapi doctor URL`` prints it. This package returns data and
prints nothing.
"""

from .certificate import CertificateInfo, parse_certificate
from .doctor import STAGES, DoctorReport, StageReport, diagnose, redact_header

__all__ = [
    "STAGES",
    "CertificateInfo",
    "DoctorReport",
    "StageReport",
    "diagnose",
    "parse_certificate",
    "redact_header",
]

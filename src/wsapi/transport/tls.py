"""The default TLS context: certifi's roots, host names checked, TLS 1.2 at least."""

from __future__ import annotations

import functools
import ssl

import certifi

__all__ = ["default_ssl_context"]


@functools.lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """The context used for ``wss://`` when ``ssl=`` is not given.

    Built once (loading the roots takes milliseconds) and shared: wsapi never
    changes it after creation.
    """
    context = ssl.create_default_context(cafile=certifi.where())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # WebSocket upgrades are HTTP/1.1; saying so stops an h2-only front end from
    # choosing HTTP/2, where the upgrade cannot work.
    context.set_alpn_protocols(["http/1.1"])
    return context

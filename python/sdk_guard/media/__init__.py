"""External media through a backend proxy, never directly by the client.

:class:`MediaProxy` mints signed same-origin URLs (``url_for``) and serves them as an
ASGI (``.asgi``) or WSGI (``.wsgi``) application; :class:`Fetcher` is the SSRF-safe
fetcher underneath, usable on its own (``Fetcher(policy).fetch(url)``).  The
``[media]`` policy section is parsed by :func:`parse_config`.  Standard library only;
``python -m sdk_guard media serve`` needs uvicorn (``pip install sdk-guard[media]``).
See docs/media.md.
"""
from __future__ import annotations

from .addr import AddressError, classify, parse_host
from .config import DEFAULT_TYPES, MediaConfig, parse_config
from .fetch import SECURITY_HEADERS, Fetcher, Media, MediaError, MediaResponse
from .proxy import MediaProxy, Ticket
from .sniff import sniff

__all__ = [
    "DEFAULT_TYPES",
    "SECURITY_HEADERS",
    "AddressError",
    "Fetcher",
    "Media",
    "MediaConfig",
    "MediaError",
    "MediaProxy",
    "MediaResponse",
    "Ticket",
    "classify",
    "parse_config",
    "parse_host",
    "sniff",
]

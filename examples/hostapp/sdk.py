"""The public SDK extensions use: storage, an HTTP-ish fetch and their data directory.

These functions are host code (hostapp is trusted), so what they do on an extension's
behalf is the supported path and is not mediated; the extension only ever sees results.
"""
from __future__ import annotations

from typing import Any

_data_dirs: dict[str, str] = {}
# The "remote service" the demo's fetch() answers from: no network is needed.
_CANNED = {
    "https://api.example.com/quote": {"quote": "Make the supported path the easy path."},
    "https://api.example.com/status": {"status": "ok"},
}


def data_dir(extension: str) -> str:
    """The directory the policy lets EXTENSION read ({data}/<extension>)."""
    return _data_dirs[extension]


def put(extension: str, key: str, value: Any) -> None:
    """Store VALUE under KEY in the host's storage, namespaced by EXTENSION."""
    from hostapp import db
    db.put(extension, key, value)


def get(extension: str, key: str) -> Any:
    from hostapp import db
    return db.get(extension, key)


def fetch(url: str) -> dict[str, Any]:
    """GET URL through the host's gateway (canned answers in the demo)."""
    if url not in _CANNED:
        raise LookupError(f"the gateway does not serve {url}")
    return dict(_CANNED[url])


def _register_data_dir(extension: str, path: str) -> None:
    _data_dirs[extension] = path

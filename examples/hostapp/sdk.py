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


# ---- application boundary: actions and scoped storage -------------------------------
# Extensions declare actions with these decorators and define models on the base the
# host hands them; they never import sdk_guard or SQLAlchemy's engine themselves.
from sqlalchemy import Integer, String, select, update  # noqa: E402,F401
from sqlalchemy.orm import Mapped, mapped_column  # noqa: E402,F401

from sdk_guard import action, page, tool  # noqa: E402,F401

_storage: Any = None


def _open_storage(storage: Any) -> None:
    global _storage
    _storage = storage


def storage_base(extension: str) -> Any:
    """The declarative base EXTENSION's models derive from (tables scoped by org)."""
    return _storage.base(extension)


def session(extension: str) -> Any:
    """A session of EXTENSION's storage, bound to the current request's org."""
    return _storage.session(extension)

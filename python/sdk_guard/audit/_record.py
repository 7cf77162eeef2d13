"""What an audit record is, and how values from Python become part of one.

A record is plain JSON data.  Values that reach it from Python (``emit``'s ``extra``,
a span's attributes) are copied into exact built-in types by :func:`plain_copy`, which
reads no method a foreign class could have replaced; whatever cannot be copied is shown
by :func:`opaque`, its type's name.  The writer formats records with one encoder that
falls back to :func:`opaque` as well.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import _guard

Record = dict[str, Any]


_TYPE_NAME = type.__dict__["__name__"]


def opaque(value: object) -> str:
    """What the trail shows for a value that is not plain JSON data: its type's name,
    read through type's own descriptor -- never the value's __str__/__repr__ (nor a
    metaclass's __name__), which would run the value's code in the writer thread."""
    return f"<{_TYPE_NAME.__get__(type(value))}>"


def plain_copy(value: object, depth: int = 0) -> Any:
    """VALUE as exact built-in JSON data, copied: str/int/float/bool/None as they are
    (subclasses reduced to the built-in value), lists/tuples and str-keyed dicts copied
    item by item (keys that are not str left out), anything else (or anything nested
    past 16 levels) as opaque().  Reads no method the value's class could have
    replaced."""
    if value is None or type(value) in (bool, str, int, float):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if depth >= 16:
        return opaque(value)
    if isinstance(value, list):
        items: list[object] = [list.__getitem__(value, i) for i in range(list.__len__(value))]
        return [plain_copy(v, depth + 1) for v in items]
    if isinstance(value, tuple):
        return [plain_copy(tuple.__getitem__(value, i), depth + 1)
                for i in range(tuple.__len__(value))]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        # dict.items, not value.items: the dict's own storage, whatever a subclass says.
        for k, v in dict.items(value):
            if isinstance(k, str):          # other keys are left out, as the C copy does
                out[str.__str__(k)] = plain_copy(v, depth + 1)
        return out
    return opaque(value)


# The writer formats records the C side built from copied built-in values; a value
# that is anything else anyway is shown by its type name, never by calling into it.
_encoder = json.JSONEncoder(separators=(",", ":"), default=opaque)


def _dumps(record: Record) -> str:
    return _encoder.encode(record)


def emit(layer: str, capability: str, decision: str, *, principal: str | None = None,
         target: str | None = None, rule: str | None = None,
         extra: Mapping[str, Any] | None = None) -> int:
    """Record one event from Python (lockdown reports, approvals); returns its seq."""
    return _guard.emit(layer, capability, decision, principal, target, rule,
                       plain_copy(dict(extra)) if extra is not None else None)

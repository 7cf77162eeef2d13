"""Validators every policy section parser shares.

Each takes the value and its dotted key (``extensions.acme.fs.read[2]``) and returns the
value in the type the caller needs, or raises a ``PolicyError`` whose ``key`` is that
dotted key and whose message says how to fix it.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from ..errors import PolicyError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# No policy value is a number beyond 64 bits; a larger one cannot even be printed in an
# error message once it exceeds sys.get_int_max_str_digits().
_MAX_INT = 1 << 64


def _join(key: str, sub: str) -> str:
    return f"{key}.{sub}" if key else sub


def _unknown_key(key: str, name: str, known: tuple[str, ...] | list[str]) -> PolicyError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return PolicyError(_join(key, name),
                       f"unknown key; {hint}known keys here: {', '.join(known)}")


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _table(value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(key, f"must be a table ([{key}] or {{...}}), not {_type_name(value)}")
    return dict(value)


def _str(value: object, key: str, example: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(key, f"must be a string such as {example}, not {_type_name(value)}")
    if "\0" in value:
        raise PolicyError(key, "contains a NUL character; remove it")
    return value


def _str_list(value: object, key: str, example: str) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise PolicyError(key, f"must be a list of strings such as [{example}], "
                               f"not {_type_name(value)}")
    return [_str(item, f"{key}[{i}]", example) for i, item in enumerate(value)]


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(key, f"must be true or false, not {_type_name(value)} {value!r}")
    return value


def _choice(value: object, key: str, choices: tuple[str, ...]) -> str:
    quoted = " or ".join(f'"{c}"' for c in choices)
    if not isinstance(value, str) or value not in choices:
        raise PolicyError(key, f"must be {quoted}, not {value!r}")
    return value


def _check_text(text: str, key: str, what: str) -> None:
    if "\0" in text:
        raise PolicyError(key, f"{what} contains a NUL character; remove it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PolicyError(key, f"{what} {_short_repr(text)} contains a lone surrogate "
                               f"({ascii(text[exc.start])}) at position {exc.start}, which "
                               "is not a character; write valid Unicode") from None


def _short_repr(value: object, limit: int = 80) -> str:
    """repr() for messages: ASCII-only and bounded, so a message always prints."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _MAX_INT:
        return f"<{value.bit_length()}-bit number>"
    try:
        text = ascii(value)
    except Exception:  # a foreign __repr__ is not ours to trust
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."

"""Validators every policy section parser shares.

Each takes the value and its dotted key (``extensions.acme.fs.read[2]``) and returns the
value in the type the caller needs, or raises a ``PolicyError`` whose ``key`` is that
dotted key and whose message says how to fix it.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import PolicyError

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# No policy value is a number beyond 64 bits; a larger one cannot even be printed in an
# error message once it exceeds sys.get_int_max_str_digits().
MAX_INT = 1 << 64


def join(key: str, sub: str) -> str:
    return f"{key}.{sub}" if key else sub


def unknown_key(key: str, name: str, known: Sequence[str], note: str = "") -> PolicyError:
    """The error for NAME under KEY: the closest known key, then all of them, then NOTE
    (why the section has only these keys) in parentheses."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    why = f" ({note})" if note else ""
    return PolicyError(join(key, name),
                       f"unknown key; {hint}known keys here: {', '.join(known)}{why}")


def check_keys(section: Mapping[str, Any], key: str, known: Sequence[str],
               note: str = "") -> None:
    """Raises unknown_key() for the first key of SECTION (the table at KEY) not in KNOWN."""
    for name in section:
        if name not in known:
            raise unknown_key(key, str(name), known, note)


def flatten(section: Mapping[str, Any], key: str, groups: Sequence[str],
            known: Sequence[str]) -> dict[str, Any]:
    """SECTION (the table at KEY) with the nested tables named in GROUPS flattened into
    dotted keys ({"fs": {"read": ...}} -> {"fs.read": ...}).  Literal dotted keys are
    accepted too; a key given both ways is an error, and every key must be in KNOWN."""
    flat: dict[str, Any] = {}
    for name, value in section.items():
        if not isinstance(name, str):
            raise PolicyError(key, f"keys must be strings, not {short_repr(name)}")
        if name in groups:
            items = [(f"{name}.{sub}", v) for sub, v in table(value, join(key, name)).items()]
        else:
            items = [(name, value)]
        for full, sub_value in items:
            if full not in known:
                raise unknown_key(key, full, known)
            if full in flat:
                raise PolicyError(join(key, full), "given twice (as a dotted key and in a "
                                                   "table); keep one")
            flat[full] = sub_value
    return flat


def type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def table(value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        # A list item (key "audit.sinks[0]") has no [header] spelling: an inline table.
        how = "{...}" if key.endswith("]") else f"[{key}] or {{...}}"
        raise PolicyError(key, f"must be a table ({how}), not {type_name(value)}")
    return dict(value)


def string(value: object, key: str, example: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise PolicyError(key, f"must be a string such as {example}, not {type_name(value)}")
    if non_empty and not value:
        raise PolicyError(key, f"is empty; write a string such as {example}")
    if "\0" in value:
        raise PolicyError(key, "contains a NUL character; remove it")
    return value


def str_list(value: object, key: str, example: str, *, non_empty: bool = False) -> list[str]:
    """A list of strings; NON_EMPTY refuses "" as an item (the list itself may be empty)."""
    if not isinstance(value, (list, tuple)):
        raise PolicyError(key, f"must be a list of strings such as [{example}], "
                               f"not {type_name(value)}")
    return [string(item, f"{key}[{i}]", example, non_empty=non_empty)
            for i, item in enumerate(value)]


def boolean(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(key, f"must be true or false, not {type_name(value)} {short_repr(value)}")
    return value


def choice(value: object, key: str, choices: Sequence[str]) -> str:
    quoted = " or ".join(f'"{c}"' for c in choices)
    if not isinstance(value, str) or value not in choices:
        raise PolicyError(key, f"must be {quoted}, not {short_repr(value)}")
    return value


def integer(value: object, key: str, low: int, high: int) -> int:
    """A whole number from LOW to HIGH (a boolean is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PolicyError(key, f"must be an integer from {low} to {high}, "
                               f"not {short_repr(value)}")
    return value


def number(value: object, key: str, low: float, high: float, unit: str) -> float:
    """A finite number (integer or float) of UNIT from LOW to HIGH, as a float."""
    # NaN compares false with everything and infinity is beyond HIGH: both fail the range.
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not low <= value <= high):
        raise PolicyError(key, f"must be a number of {unit} from {low:g} to {high:g}, "
                               f"not {short_repr(value)}")
    return float(value)


def check_text(text: str, key: str, what: str) -> None:
    if "\0" in text:
        raise PolicyError(key, f"{what} contains a NUL character; remove it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PolicyError(key, f"{what} {short_repr(text)} contains a lone surrogate "
                               f"({ascii(text[exc.start])}) at position {exc.start}, which "
                               "is not a character; write valid Unicode") from None


def short_repr(value: object, limit: int = 80) -> str:
    """repr() for messages: ASCII-only and bounded, so a message always prints."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MAX_INT:
        return f"<{value.bit_length()}-bit number>"
    try:
        text = ascii(value)
    except Exception:  # a foreign __repr__ is not ours to trust
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."

"""The template expander for policy strings: {data} {home} {tmp} {prefix} and the
caller's own variables; a literal brace is doubled ({{ or }})."""
from __future__ import annotations

import os
import string
import sys
import tempfile
from collections.abc import Mapping

from ..errors import PolicyError
from .validate import IDENT, check_text, short_repr, type_name


def escape_braces(text: str) -> str:
    """A literal string as a template that expands back to it ({ and } doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def template_fields(value: str, key: str) -> list[tuple[str, str | None, str | None,
                                                     str | None]]:
    try:
        return list(string.Formatter().parse(value))
    except ValueError as exc:
        raise PolicyError(key, f"{value!r}: {exc}; templates are written {{data}}, and a "
                               "literal brace is doubled ({{ or }})") from None


class Templates:
    """Expands {data} {home} {tmp} {prefix} (and caller variables) in policy strings.

    ``unset_hint`` ends the error for {data} used while no data directory is set: how to
    set it where the strings come from (a policy file, or ``lockdown(spec=...)``).
    """

    def __init__(self, variables: Mapping[str, str] | None, *,
                 unset_hint: str = 'set host.data = "/path" or pass '
                                   'variables={"data": "/path"}') -> None:
        self.unset_hint = unset_hint
        self.values: dict[str, str | None] = {
            "data": None,
            "home": os.path.expanduser("~"),
            "tmp": tempfile.gettempdir(),
            "prefix": sys.prefix,
        }
        if variables is not None and not isinstance(variables, Mapping):
            raise PolicyError("", f"variables must be a mapping of template names to paths, "
                                  f"not {type_name(variables)}")
        for name, value in (variables or {}).items():
            if not isinstance(name, str) or not IDENT.match(name):
                raise PolicyError("", f"variables: {short_repr(name)} is not a template name; "
                                      "use an identifier such as \"data\"")
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if not isinstance(value, str):
                raise PolicyError("", f"variables[{name!r}] must be a string path, "
                                      f"not {type_name(value)}")
            check_text(value, "", f"variables[{name!r}]")
            self.values[name] = value
        self.data_from_variables = self.values["data"] is not None

    def expand(self, value: str, key: str) -> str:
        out: list[str] = []
        fields = template_fields(value, key)
        for literal, field, spec, conv in fields:
            out.append(literal)
            if field is None:
                continue
            if spec or conv or field not in self.values:
                known = ", ".join("{" + n + "}" for n in self.values)
                raise PolicyError(key, f"unknown template {{{field}{'!' + conv if conv else ''}"
                                       f"{':' + spec if spec else ''}}} in {value!r}; "
                                       f"use one of {known}")
            sub = self.values[field]
            if sub is None:
                raise PolicyError(key, f"{value!r} uses {{{field}}} but no {field} directory is "
                                       f"set; {self.unset_hint}")
            out.append(sub)
        return "".join(out)

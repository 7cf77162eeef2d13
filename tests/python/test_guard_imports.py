"""Process Guard, import: allowlist, denylist, presets, private host modules with hints,
and every route to a module (already imported, `from x import y`, importlib,
__import__), while the extension's own relative imports and a library's own
dependencies keep working."""
from __future__ import annotations

from typing import Any

import pytest

from _support import guard_tree as gk

MODULES = {
    # one module per import statement under test; the host imports each and records
    # what happened
    "plugins/acme/m_pure.py": "import json, re, dataclasses, collections.abc\nOK = json.dumps([1])\n",
    "plugins/acme/m_not_allowed.py": "import csv\n",
    "plugins/acme/m_not_allowed_pkg.py": "import xml.dom.minidom\n",
    "plugins/acme/m_private.py": "import hostapp.db\n",
    "plugins/acme/m_private_from.py": "from hostapp import db\n",
    "plugins/acme/m_private_alias.py": "from hostapp_sdk import _db\n",
    "plugins/acme/m_public.py": "import hostapp_sdk\nOK = hostapp_sdk.query('x')\n",
    "plugins/acme/m_already_imported.py": "import csv as c\n",
    "plugins/acme/m_from_submodule.py": "from email import mime\n",
    "plugins/acme/m_from_allowed_pkg.py": "from email import charset\n",
    "plugins/acme/m_dunder_import.py": "m = __import__('csv')\n",
    "plugins/acme/m_importlib.py": "import importlib\nm = importlib.import_module('csv')\n",
    "plugins/acme/m_fallback.py": (
        "try:\n    import csv\n    HAVE = True\nexcept ImportError:\n    HAVE = False\n"),
    "plugins/acme/m_uses_lib.py": "import extlib2\nOK = extlib2.use_csv()\n",
    "plugins/acme/sub/__init__.py": (
        "from . import helper\nfrom .helper import VALUE\nfrom .. import sibling\n"),
    "plugins/acme/sub/helper.py": "VALUE = 42\n",
    "plugins/acme/sibling.py": "NAME = 'sibling'\n",
    "plugins/beta/m_denied.py": "import json\n",
    "plugins/beta/m_text.py": "import csv, difflib\nOK = csv.__name__\n",
    "src/extlib2.py": "def use_csv():\n    import csv\n    return csv.__name__\n",
}

BODY = r'''
import importlib, email
attempt("pure", lambda: importlib.import_module("acme.m_pure").OK)
attempt("not_allowed", importlib.import_module, "acme.m_not_allowed")
attempt("not_allowed_pkg", importlib.import_module, "acme.m_not_allowed_pkg")
attempt("private", importlib.import_module, "acme.m_private")
attempt("private_from", importlib.import_module, "acme.m_private_from")
attempt("private_alias", importlib.import_module, "acme.m_private_alias")
attempt("public", lambda: importlib.import_module("acme.m_public").OK)
import csv                      # the host imports it: now it is in sys.modules
attempt("already_imported", importlib.import_module, "acme.m_already_imported")
attempt("from_submodule", importlib.import_module, "acme.m_from_submodule")
attempt("from_allowed_pkg", importlib.import_module, "acme.m_from_allowed_pkg")
attempt("dunder_import", importlib.import_module, "acme.m_dunder_import")
attempt("importlib_in_module", importlib.import_module, "acme.m_importlib")
attempt("call_import_module", acme.call, importlib.import_module, "csv")
attempt("call_import_module_private", acme.call, importlib.import_module, "hostapp.db")
attempt("fallback", lambda: importlib.import_module("acme.m_fallback").HAVE)
attempt("uses_lib", lambda: importlib.import_module("acme.m_uses_lib").OK)
attempt("relative", lambda: importlib.import_module("acme.sub").VALUE)
attempt("beta_denylist", importlib.import_module, "beta.m_denied")
attempt("beta_text_preset", lambda: importlib.import_module("beta.m_text").OK)
attempt("host_private", lambda: importlib.import_module("hostapp.db").__name__)
try:
    importlib.import_module("acme.m_private")
except sg.errors.VIOLATIONS as exc:
    R["caught_by_violations"] = type(exc).__name__
try:
    importlib.import_module("acme.m_private")
except ImportError as exc:
    R["caught_by_import_error"] = type(exc).__name__
'''

ALLOW = ["@pure", "extlib", "extlib2", "importlib", "email"]


@pytest.fixture(scope="module")
def imp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("imports")
    pol = gk.policy(base, beta={"imports.allow": ["@pure", "@text"],
                                "imports.deny": ["json"]},
                    **{"imports.allow": ALLOW})
    return gk.run(base, BODY, pol=pol, files=MODULES)


def denied_import(r: dict[str, Any], name: str, target: str, principal: str = "acme",
                  ) -> dict[str, Any]:
    out = gk.assert_denied(r, name, "import", principal=principal, target=target,
                           rule=f"extensions.{principal}.imports.allow")
    assert out["type"] == "ImportBoundaryError", out
    assert out["import_error"] is True, out
    return out


def test_allowlisted_and_preset_modules_import(imp: dict[str, Any]) -> None:
    assert gk.assert_allowed(imp, "pure") == "[1]"


def test_module_outside_allowlist_raises_import_boundary_error(imp: dict[str, Any]) -> None:
    out = denied_import(imp, "not_allowed", "csv")
    assert 'add "csv" to extensions.acme.imports.allow' in out["msg"]
    denied_import(imp, "not_allowed_pkg", "xml.dom.minidom")


def test_private_host_module_is_refused_with_the_hint(imp: dict[str, Any]) -> None:
    for name in ("private", "private_from", "call_import_module_private"):
        out = imp[name]
        target = "hostapp.db" if name != "private_from" else out["target"]
        out = denied_import(imp, name, target)
        assert "private to the host" in out["msg"], out
    assert "use hostapp_sdk.query instead" in imp["private"]["msg"]


def test_public_sdk_module_reexporting_a_private_module_is_caught(imp: dict[str, Any]) -> None:
    out = denied_import(imp, "private_alias", "hostapp.db")
    assert "use hostapp_sdk.query instead" in out["msg"]


def test_public_sdk_import_is_allowed(imp: dict[str, Any]) -> None:
    assert gk.assert_allowed(imp, "public") == "rows for x"


def test_already_imported_module_is_still_checked(imp: dict[str, Any]) -> None:
    denied_import(imp, "already_imported", "csv")


def test_from_import_of_a_submodule_is_checked(imp: dict[str, Any]) -> None:
    denied_import(imp, "from_submodule", "email.mime")
    denied_import(imp, "from_allowed_pkg", "email.charset")


def test_dunder_import_and_importlib_from_extension_are_checked(imp: dict[str, Any]) -> None:
    denied_import(imp, "dunder_import", "csv")
    denied_import(imp, "importlib_in_module", "csv")
    denied_import(imp, "call_import_module", "csv")


def test_import_error_fallback_in_extension_code_still_works(imp: dict[str, Any]) -> None:
    assert gk.assert_allowed(imp, "fallback") is False


def test_library_importing_its_own_dependency_is_allowed(imp: dict[str, Any]) -> None:
    assert gk.assert_allowed(imp, "uses_lib") == "csv"


def test_relative_imports_inside_the_extension_work(imp: dict[str, Any]) -> None:
    assert gk.assert_allowed(imp, "relative") == 42


def test_denylist_beats_a_preset(imp: dict[str, Any]) -> None:
    out = denied_import(imp, "beta_denylist", "json", principal="beta")
    assert "imports.deny" in out["msg"]


def test_text_preset_allows_its_members(imp: dict[str, Any]) -> None:
    assert gk.assert_allowed(imp, "beta_text_preset") == "csv"


def test_host_imports_are_not_mediated(imp: dict[str, Any]) -> None:
    assert gk.assert_allowed(imp, "host_private") == "hostapp.db"


def test_import_boundary_error_is_caught_as_violation_and_import_error(
        imp: dict[str, Any]) -> None:
    assert imp["caught_by_violations"] == "ImportBoundaryError"
    assert imp["caught_by_import_error"] == "ImportBoundaryError"
    assert imp["private"]["violation"] is True

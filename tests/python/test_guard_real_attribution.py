"""Attribution as real hosts and libraries need it: threads inherit the extension that
started them, host threads stay host threads (also those started before install()),
environment changes are process.env, the SDK serves an extension with host authority
even under acting_as(), a refused submodule suggests `pkg.*`, and a private host
module's files are unreadable to an extension by every route."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import guardkit as gk

# ---- the SDK under acting_as -----------------------------------------------------------

SDK = r'''
import hostapp_sdk, extlib
SECRET = os.path.join(OUTSIDE, "secret.txt")
# acme asks the host's SDK to read a file outside acme's fs.read: the SDK is host code
# running inside acme's call, with host authority, with or without acting_as.
attempt("sdk_plain", acme.call, hostapp_sdk.read_text, SECRET)
def under():
    with sg.acting_as("acme"):
        return acme.call(hostapp_sdk.read_text, SECRET)
attempt("sdk_under_acting_as", under)
# acting_as speaks when no extension frame is on the stack: host code running a
# library callback for acme is held to acme's policy (both must allow).
def host_for_acme():
    with sg.acting_as("acme"):
        return extlib.read_text(SECRET)
attempt("host_callback_for_acme", host_for_acme)
# acme's own read under acting_as is still acme's.
def own():
    with sg.acting_as("acme"):
        return acme.call(extlib.read_text, SECRET)
attempt("ext_under_acting_as", own)
'''


def test_sdk_called_by_an_extension_acts_with_host_authority_under_acting_as(
        tmp_path: Path) -> None:
    r = gk.run(tmp_path, SDK)
    assert gk.assert_allowed(r, "sdk_plain") == "secret\n"
    assert gk.assert_allowed(r, "sdk_under_acting_as") == "secret\n"
    gk.assert_denied(r, "host_callback_for_acme", "fs.read")
    gk.assert_denied(r, "ext_under_acting_as", "fs.read")



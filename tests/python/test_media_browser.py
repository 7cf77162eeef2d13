"""A real headless Chromium loads the example host page (examples/media_host.py):
the external image renders through the proxy, and the browser itself never contacts
the image's origin (the origin logs every request it gets, with its User-Agent).

The origin, the host app and Chromium run in a child process inside a fresh network
namespace the test creates (only its loopback is up), so nothing the browser does in
the background can reach any other address.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from _support.child import ROOT, child_env, program

# The child program is tests/_support/children/media_browser.py.


def _netns_prefix() -> list[str]:
    """The command prefix that runs a child in a new network namespace with loopback
    up, or [] (with the reason printed) where this machine cannot make one."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        print("media browser test: unshare/ip missing; running in this network namespace "
              "with Chromium's resolver mapped to nothing")
        return []
    probe = subprocess.run([unshare, "--net", "--", ip, "link", "set", "lo", "up"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        print(f"media browser test: cannot create a network namespace ({probe.stderr.strip()});"
              " running in this one with Chromium's resolver mapped to nothing")
        return []
    return [unshare, "--net", "--", "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh"]


def test_browser_renders_the_external_image_only_through_the_proxy() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (scripts/install-deps installs Debian's "
                    "chromium package)")
    cmd = [*_netns_prefix(), sys.executable, program("media_browser"), str(ROOT), chromium]
    proc = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rc"] == 0, out["stderr"]
    dom = out["dom"]
    start = dom.index('<pre id="result">') + len('<pre id="result">')
    result = dom[start:dom.index("</pre>", start)]
    # The proxied image decoded at its real size and its first pixel is the PNG's
    # colour; the directly linked copy was blocked by img-src 'self'.
    assert result == "proxied=37x23 pixel=200,30,60,255 direct=0x0", result
    assert "img-src 'self'" in out["page_csp"]
    assert out["image"] in dom                      # the page did link the origin directly
    # The origin saw exactly one request, and it came from the proxy, not the browser.
    assert [r["path"] for r in out["origin"]] == ["/cat.png"]
    assert out["origin"][0]["headers"]["user-agent"] == "sdk_guard-media/1"
    assert "cookie" not in out["origin"][0]["headers"]

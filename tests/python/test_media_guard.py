"""The media fetcher under an installed Process Guard: an extension gets external
media through the host SDK (which calls sdk_guard.media) without any net.connect or
net.resolve grant of its own, while its own sockets stay refused."""
from __future__ import annotations

from pathlib import Path

from _support import guard_tree as gk
from _support.child import ROOT

SDK = gk.HOSTAPP_SDK + '''

MEDIA = None

def media_fetch(url):
    """The SDK's media fetch, on behalf of the calling extension."""
    m = MEDIA.fetch(url, principal="acme")
    return [m.status, m.content_type, len(m.body)]
'''

BODY = f'''
import socket, subprocess
from sdk_guard.media import MediaProxy, MediaError
import hostapp_sdk

# The origin runs in its own process: its request threads are none of the guard's
# business.
ORIGIN = subprocess.Popen([sys.executable, "-c", """
import sys, time
sys.path.insert(0, {str(ROOT / "tests")!r})
from _support.media_origin import Origin, png
o = Origin()
o.serve("/a.png", png(5, 4), "image/png")
print(o.port, flush=True)
sys.stdin.read()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
PORT = int(ORIGIN.stdout.readline())
class origin:
    hostport = f"127.0.0.1:{{PORT}}"
    port = PORT
    url = staticmethod(lambda path: f"http://127.0.0.1:{{PORT}}{{path}}")
def v4_only(host, port):
    return [a[4][0] for a in socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)]
hostapp_sdk.MEDIA = MediaProxy(b"k" * 32, {{"allow_internal": [origin.hostport],
                                           "mint": ["acme"]}}, resolver=v4_only)
''' + gk.INSTALL + '''
attempt("sdk_media", acme.call, hostapp_sdk.media_fetch, origin.url("/a.png"))
attempt("sdk_media_by_name", acme.call, hostapp_sdk.media_fetch,
        f"http://localhost:{origin.port}/a.png")
attempt("sdk_media_forbidden", acme.call, hostapp_sdk.media_fetch, "http://10.0.0.1/a.png")
attempt("own_socket", acme.call, socket.create_connection, ("127.0.0.1", origin.port), 5)
ORIGIN.stdin.close()
ORIGIN.wait(10)
'''


def test_extension_gets_media_through_the_sdk_without_net_grants(tmp_path: Path) -> None:
    imports = gk.DEFAULT_IMPORTS
    res = gk.run(tmp_path, BODY, pol=gk.policy(tmp_path, **{"imports.allow": imports}),
                 files={"src/hostapp_sdk.py": SDK}, install=False)
    assert gk.assert_allowed(res, "sdk_media") == [200, "image/png", len(_png())]
    assert gk.assert_allowed(res, "sdk_media_by_name") == [200, "image/png", len(_png())]
    bad = res["sdk_media_forbidden"]
    assert bad["ok"] is False and bad["type"] == "MediaError" and bad["violation"] is True
    assert bad["capability"] == "media.fetch" and bad["rule"] == "media.allow_internal"
    gk.assert_denied(res, "own_socket", "net.connect")
    media = [r for r in res["_audit"] if r["layer"] == "media"]
    assert [(r["principal"], r["decision"], r["reason"]) for r in media] == [
        ("acme", "allow", "ok"), ("acme", "allow", "ok"), ("acme", "deny", "address")]


def _png() -> bytes:
    from _support.media_origin import png
    return png(5, 4)

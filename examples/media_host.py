"""An example host page that shows an external image only through the media proxy.

The page is served with ``Content-Security-Policy: default-src 'none'; img-src 'self';
script-src 'nonce-...'``: the browser may load images from this origin only, so the
external image appears because the host's proxy (mounted at /media) fetched it, and
the same image linked directly is blocked by the browser, which never contacts the
external origin.  A small script writes each image's natural size and the proxied
image's first pixel into the page, so a headless browser's --dump-dom shows what
rendered.

    python examples/media_host.py --image https://upload.example/cat.png --port 8000

Run with ``--allow-internal 127.0.0.1:9000`` to show an image from a loopback origin
(the tests do).  Needs uvicorn (``pip install 'sdk-guard[media]'``).
"""
from __future__ import annotations

import argparse
import html
import secrets
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

from sdk_guard.media import MediaProxy
from sdk_guard.policy import Policy

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>media example</title></head>
<body>
<h1>An external image, shown through the host</h1>
<img id="proxied" alt="through the proxy" src="{proxied}">
<img id="direct" alt="linked directly (blocked by img-src 'self')" src="{direct}">
<pre id="result">pending</pre>
<script nonce="{nonce}">
window.addEventListener("load", () => {{
  const p = document.getElementById("proxied"), d = document.getElementById("direct");
  let pixel = "none";
  if (p.naturalWidth) {{
    const c = document.createElement("canvas");
    c.width = p.naturalWidth; c.height = p.naturalHeight;
    const g = c.getContext("2d");
    g.drawImage(p, 0, 0);
    pixel = Array.from(g.getImageData(0, 0, 1, 1).data).join(",");
  }}
  document.getElementById("result").textContent =
    `proxied=${{p.naturalWidth}}x${{p.naturalHeight}} pixel=${{pixel}} ` +
    `direct=${{d.naturalWidth}}x${{d.naturalHeight}}`;
}});
</script>
</body></html>
"""


class HostApp:
    """The host's ASGI app: the page at /, the proxy under /media."""

    def __init__(self, image_url: str, proxy: MediaProxy) -> None:
        self.image_url = image_url
        self.proxy = proxy

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/media/"):
            await self.proxy.asgi(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.proxy.asgi(scope, receive, send)    # lifespan
            return
        if scope["path"] != "/":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        nonce = secrets.token_urlsafe(16)
        body = PAGE.format(proxied=html.escape(self.proxy.url_for(self.image_url)),
                           direct=html.escape(self.image_url), nonce=nonce).encode()
        csp = f"default-src 'none'; img-src 'self'; script-src 'nonce-{nonce}'"
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-security-policy", csp.encode()),
            (b"referrer-policy", b"no-referrer"),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def build_app(image_url: str, policy: Policy | None = None,
              allow_internal: list[str] | None = None) -> HostApp:
    """The example app; the proxy key is random per process (URLs are minted here)."""
    media: Any = policy
    if policy is None:
        media = {"allow_internal": allow_internal or []}
    return HostApp(image_url, MediaProxy(secrets.token_bytes(32), media, prefix="/media"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", required=True, help="external image URL the page shows")
    ap.add_argument("--policy", help="policy file with a [media] section")
    ap.add_argument("--allow-internal", action="append", default=[],
                    help="ADDRESS:PORT of an internal origin to open (repeatable)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    args = ap.parse_args()
    import uvicorn
    policy = Policy.from_file(args.policy) if args.policy else None
    uvicorn.run(build_app(args.image, policy, args.allow_internal), host=args.host,
                port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m sdk_guard media``: serve the media proxy standalone, or mint a URL.

``serve`` runs the proxy's ASGI app on uvicorn (``pip install sdk-guard[media]``) and
writes the audit trail where the policy's [audit] section says (one JSON line a
record on stderr when it has none);
``url`` prints the signed proxy path for an external URL.  Keys come from
``--key-file`` (one key per line, the first signs, ``#`` comments) or the
``SDK_GUARD_MEDIA_KEYS`` environment variable (comma-separated).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import Subparsers, add_command, add_group, fail

if TYPE_CHECKING:
    from ..media import MediaProxy


def _keys(args: argparse.Namespace) -> list[str]:
    if args.key_file:
        text = Path(args.key_file).read_text(encoding="utf-8")
        keys = [ln.strip() for ln in text.splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
        where = args.key_file
    else:
        keys = [k.strip() for k in os.environ.get("SDK_GUARD_MEDIA_KEYS", "").split(",")
                if k.strip()]
        where = "SDK_GUARD_MEDIA_KEYS"
    if not keys:
        raise SystemExit(f"sdk_guard media: no key in {where}; give --key-file FILE (one "
                         "key of 32+ characters a line) or set SDK_GUARD_MEDIA_KEYS")
    return keys


def _proxy(args: argparse.Namespace) -> MediaProxy:
    from ..errors import PolicyError
    from ..media import MediaProxy
    from ..policy import Policy
    try:
        policy = Policy.from_file(args.policy)
    except PolicyError as exc:
        raise SystemExit(f"sdk_guard media: {args.policy}: {exc}") from None
    try:
        proxy = MediaProxy(_keys(args), policy, prefix=args.prefix)
    except ValueError as exc:
        raise SystemExit(f"sdk_guard media: {exc}") from None
    if args.command_media == "serve":
        from .. import audit
        if policy.audit_config() is not None:
            audit.configure(policy.audit_config(), policy.variables)
        else:
            # Without an [audit] section the trail still goes somewhere: one JSON line
            # per fetch on stderr, never a ring nobody drains.
            import logging
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger = logging.getLogger("sdk_guard.audit")
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            audit.add_sink(audit.LoggingSink(logger))
    return proxy


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        return fail("sdk_guard media serve needs uvicorn: pip install 'sdk-guard[media]'", 2)
    proxy = _proxy(args)
    print(f"sdk_guard media: serving {args.prefix}/<sig>/<token> on "
          f"http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    uvicorn.run(proxy.asgi, host=args.host, port=args.port,
                log_level="warning", lifespan="on")
    return 0


def _url(args: argparse.Namespace) -> int:
    from ..media import MediaError
    proxy = _proxy(args)
    try:
        print(proxy.url_for(args.url, principal=args.principal, expires=args.expires))
    except (ValueError, MediaError) as exc:
        return fail(f"sdk_guard media: {exc}", 1)
    return 0


def register(subparsers: Subparsers) -> None:
    sub = add_group(
        subparsers, "media", "command_media",
        help="run the external-media proxy, or mint a signed proxy URL",
        description="The media proxy: external images, audio and video fetched by the "
                    "backend under the policy's [media] section (docs/media.md).")
    for name, fn, help_text in (("serve", _serve, "serve the proxy on uvicorn"),
                                ("url", _url, "print the signed proxy path for URL")):
        q = add_command(sub, name, fn, help=help_text)
        q.add_argument("--policy", required=True, help="policy file (.toml or .json)")
        q.add_argument("--key-file", help="signing keys, one a line (first signs); default: "
                                          "$SDK_GUARD_MEDIA_KEYS")
        q.add_argument("--prefix", default="/media", help="path the proxy is served under")
        if name == "serve":
            q.add_argument("--host", default="127.0.0.1")
            q.add_argument("--port", type=int, default=8090)
        else:
            q.add_argument("--principal", help="extension the URL is minted for")
            q.add_argument("--expires", type=float, help="Unix time the URL expires")
            q.add_argument("url", help="the external http(s) URL")

"""The request context: on whose behalf code runs (user, organization, permissions).

Host code opens it around the handling of one request::

    with sg.request(user="u-1", org="o-1", permissions={"invoices.read"}):
        ...   # actions, scoped storage and audit records see u-1 / o-1

It lives in a context variable, so asyncio tasks created inside inherit it and
``sdk_guard.audit.bind`` carries it into threads and executors.  Audit records written
inside carry its user and org.

Only host code can open one.  The value stored in the variable is a capsule made by
``sdk_guard._guard`` after the guard's attribution said the caller is host code; Python
code cannot make such a capsule, so setting the variable by other means (it is
reachable through ``contextvars.copy_context()``) reads as a forged context and every
consumer refuses it with ``PolicyViolation``.  A context whose ``with`` block ended
cannot be replayed.  The context object itself is an immutable tuple.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final

from . import _guard, audit
from .audit import _spans
from .errors import PolicyViolation

__all__ = ["RequestContext", "ASGIMiddleware", "WSGIMiddleware", "current", "request",
           "require"]

# Identifiers and permission names: printable, bounded, no whitespace or control
# characters, so they are safe in audit records, SQL parameters and log lines.
_IDENT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+\-]{0,127}")
_PERMISSION: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_*]+)*|\*")


def _ident(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"request({what}=...) takes a str, not {type(value).__name__}")
    text = str.__str__(value)       # an exact str: a subclass could answer differently later
    if not _IDENT.fullmatch(text):
        raise ValueError(f"request({what}={text!r}): use 1-128 characters of letters, "
                         "digits and _ . : @ + - (starting with a letter or digit)")
    return text


def _names(values: Iterable[object] | None, what: str) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        raise TypeError(f"request({what}=...) takes a collection of str, not one str")
    out = set()
    for v in values:
        if not isinstance(v, str) or not _PERMISSION.fullmatch(str.__str__(v)):
            raise ValueError(f"request({what}=...): {v!r} is not a permission/role name "
                             "(lower-case dotted words, e.g. invoices.read)")
        out.add(str.__str__(v))
    return frozenset(out)


class RequestContext(tuple[Any, ...]):
    """The current request: ``user``, ``org``, ``roles``, ``permissions`` (frozensets).

    Immutable (a tuple); only :func:`request` makes the one the data layer and the
    actions trust.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> RequestContext:
        raise TypeError("a RequestContext is opened by host code with sdk_guard.request(...)")

    @property
    def user(self) -> str | None:
        value: str | None = tuple.__getitem__(self, 0)
        return value

    @property
    def org(self) -> str:
        value: str = tuple.__getitem__(self, 1)
        return value

    @property
    def roles(self) -> frozenset[str]:
        value: frozenset[str] = tuple.__getitem__(self, 2)
        return value

    @property
    def permissions(self) -> frozenset[str]:
        value: frozenset[str] = tuple.__getitem__(self, 3)
        return value

    def has(self, permission: str) -> bool:
        """True if PERMISSION is granted (exactly, by a ``prefix.*`` grant, or by ``*``)."""
        perms = tuple.__getitem__(self, 3)
        if permission in perms or "*" in perms:
            return True
        parts = permission.split(".")
        return any(".".join(parts[:i]) + ".*" in perms for i in range(1, len(parts)))

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "org": self.org, "roles": sorted(self.roles),
                "permissions": sorted(self.permissions)}

    def __repr__(self) -> str:
        return (f"RequestContext(user={self.user!r}, org={self.org!r}, "
                f"permissions={sorted(self.permissions)!r})")


class _RequestScope:
    """What ``request()`` returns: entering it makes the context current."""

    __slots__ = ("_ctx", "_token", "_ident_token")

    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx
        self._token: object | None = None
        self._ident_token: Any = None

    def __enter__(self) -> RequestContext:
        if self._token is not None:
            raise RuntimeError("this request() scope is already open; call request() again")
        # An extension's acting_as() context is not a host request either.
        acting = _guard.current_principal()[2] if _guard.is_installed() else None
        if acting is not None:
            seq = audit.emit("app", "request", "deny", principal=acting, target="request",
                             rule="context.request",
                             extra={"reason": "opened inside acting_as"})
            raise PolicyViolation(
                f"a request context cannot be opened on behalf of extension {acting!r} "
                "(inside acting_as); open it in host code before calling the extension",
                principal=acting, capability="request", target="request",
                rule="context.request", event_id=seq)
        # The C gate asks the guard who called __enter__: only host code passes.
        self._token = _guard.request_enter(self._ctx)
        self._ident_token = _spans._set_identity(self._ctx.user, self._ctx.org)
        return self._ctx

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        _spans._reset_identity(self._ident_token)
        _guard.request_exit(token)


def request(*, user: str | None, org: str, permissions: Iterable[str] | None = None,
            roles: Iterable[str] | None = None) -> _RequestScope:
    """Open the context of one request (host code only): ``with request(...) as ctx``."""
    ctx = tuple.__new__(RequestContext, (
        None if user is None else _ident(user, "user"), _ident(org, "org"),
        _names(roles, "roles"), _names(permissions, "permissions")))
    return _RequestScope(ctx)


def _refuse(state: str, what: str, principal: str | None) -> PolicyViolation:
    reason = {"forged": "the request context was not opened by sdk_guard.request() "
                        "(the context variable was set by other code)",
              "ended": "the request context has ended (its with-block exited)",
              "none": "there is no request context (host code opens one with "
                      "sdk_guard.request(user=..., org=...))"}[state]
    seq = audit.emit("app", "request", "deny", principal=principal, target=what,
                     rule="context.request", extra={"reason": reason, "state": state})
    return PolicyViolation(f"{what}: {reason}", principal=principal, capability="request",
                           target=what, rule="context.request", event_id=seq)


def current() -> RequestContext | None:
    """The current request context, or None outside one.

    A forged context (the variable set without :func:`request`) or one whose block
    ended raises ``PolicyViolation`` and leaves an audit record.
    """
    state, ctx = _guard.request_get()
    if state == "live":
        result: RequestContext = ctx
        return result
    if state == "none":
        return None
    raise _refuse(state, "request context", None)


def require(what: str, principal: str | None = None) -> RequestContext:
    """The current context; ``PolicyViolation`` (recorded) if there is none.  WHAT names
    the operation that needed it (it appears in the message and the record)."""
    state, ctx = _guard.request_get()
    if state == "live":
        result: RequestContext = ctx
        return result
    raise _refuse(state, what, principal)


# ---- middleware ---------------------------------------------------------------------

#: ``authenticate`` returns the keyword arguments of :func:`request` (``user``, ``org``,
#: ``permissions``, ``roles``) for an authenticated request, or None to refuse it.
Identity = Mapping[str, Any]


def _identity_kwargs(identity: Identity) -> dict[str, Any]:
    unknown = set(identity) - {"user", "org", "permissions", "roles"}
    if unknown:
        raise TypeError(f"authenticate() returned unknown keys {sorted(unknown)}; "
                        "use user, org, permissions, roles")
    return {"user": identity.get("user"), "org": identity["org"],
            "permissions": identity.get("permissions"), "roles": identity.get("roles")}


class ASGIMiddleware:
    """Opens the request context for each HTTP/WebSocket request of an ASGI app.

    ``authenticate(scope)`` (sync or async) is host code; it returns the identity or
    None, which answers 401 without calling the app.  Built and called by host code
    only: an extension that reaches the instance cannot run it with a scope of its own.
    """

    def __init__(self, app: Callable[..., Awaitable[None]],
                 authenticate: Callable[[dict[str, Any]], Any]) -> None:
        _guard.require_host("ASGIMiddleware")
        self.app = app
        self._authenticate = authenticate

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        _guard.require_host("ASGIMiddleware")
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        identity = self._authenticate(scope)
        if inspect.isawaitable(identity):
            identity = await identity
        if identity is None:
            if scope["type"] == "http":
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"unauthenticated"})
            else:
                await send({"type": "websocket.close", "code": 4401})
            return
        with request(**_identity_kwargs(identity)):
            await self.app(scope, receive, send)


class WSGIMiddleware:
    """Opens the request context for each WSGI request.  The response is consumed
    inside the context (so lazy bodies still run in it) and returned as a list."""

    def __init__(self, app: Callable[..., Iterable[bytes]],
                 authenticate: Callable[[dict[str, Any]], Identity | None]) -> None:
        _guard.require_host("WSGIMiddleware")
        self.app = app
        self._authenticate = authenticate

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterator[bytes] | list[bytes]:
        _guard.require_host("WSGIMiddleware")
        identity = self._authenticate(environ)
        if identity is None:
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"unauthenticated"]
        with request(**_identity_kwargs(identity)):
            body = self.app(environ, start_response)
            try:
                return list(body)
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

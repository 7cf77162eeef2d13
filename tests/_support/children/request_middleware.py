"""Request middleware child: ``request_middleware.py``.

An ASGI app behind context.ASGIMiddleware (through starlette's TestClient) and a WSGI
app behind context.WSGIMiddleware, both authenticating by token; prints what the apps
saw of the request context and the responses.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from starlette.testclient import TestClient  # noqa: E402

from sdk_guard import context  # noqa: E402


def auth(scope_or_environ):
    headers = dict(scope_or_environ.get("headers", []))
    token = headers.get(b"x-token") or scope_or_environ.get("HTTP_X_TOKEN", "").encode()
    users = {b"t1": {"user": "u-1", "org": "o-1", "permissions": ["a.read"]},
             b"t2": {"user": "u-2", "org": "o-2"}}
    return users.get(token)

async def app(scope, receive, send):
    ctx = context.current()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body",
                "body": f"{ctx.user}/{ctx.org}/{sorted(ctx.permissions)}".encode()})

client = TestClient(context.ASGIMiddleware(app, auth))
a1 = client.get("/", headers={"x-token": "t1"}).text
a2 = client.get("/", headers={"x-token": "t2"}).text
anon = client.get("/").status_code

def wsgi_app(environ, start_response):
    start_response("200 OK", [])
    yield context.current().org.encode()

w = context.WSGIMiddleware(wsgi_app, auth)
got = []
body = w({"HTTP_X_TOKEN": "t2"}, lambda s, h: got.append(s))
print(json.dumps({"a1": a1, "a2": a2, "anon": anon,
                  "wsgi": b"".join(body).decode(), "status": got}))

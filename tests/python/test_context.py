"""The request context: host code opens it; extension code cannot open, alter or forge
one; asyncio tasks and bound threads inherit it; audit records carry its user/org."""
from __future__ import annotations

from pathlib import Path

from _support.child import run_program_json, write_tree

ACME = {
    "acme/__init__.py": """
        import contextvars
        import sdk_guard
        from sdk_guard import _guard, context

        def attempt(fn):
            try:
                return ["done", repr(fn())]
            except sdk_guard.PolicyViolation as e:
                return ["violation", e.capability]
            except (TypeError, AttributeError) as e:
                return ["refused", type(e).__name__]

        def open_request():
            with sdk_guard.request(user="u-evil", org="o-2", permissions=["*"]):
                return context.current().org

        def enter_scope_by_hand():
            scope = sdk_guard.request(user="u-evil", org="o-2")
            return scope.__enter__().org

        def grab_var():
            return [v for v in contextvars.copy_context() if v.name == "sdk_guard.request"][0]

        def set_var_forged(var):
            forged = tuple.__new__(context.RequestContext, ("u-evil", "o-2", frozenset(),
                                                            frozenset(["*"])))
            var.set(forged)
            return context.current().org

        def call_c_enter():
            return _guard.request_enter(tuple.__new__(context.RequestContext,
                                                      ("u", "o-2", frozenset(), frozenset())))

        def mutate():
            ctx = context.current()
            object.__setattr__(ctx, "org", "o-2")
            return ctx.org

        def mutate_item():
            ctx = context.current()
            ctx[1] = "o-2"
            return ctx.org

        def construct():
            return context.RequestContext("u", "o-2", (), ())

        def replay_stashed(var, stash):
            var.set(stash)
            return context.current().org

        def stash_capsule():
            var = [v for v in contextvars.copy_context() if v.name == "sdk_guard.request"][0]
            return var.get()

        def build_middleware():
            return context.ASGIMiddleware(lambda *a: None, lambda scope: {"org": "o-2"})

        def call_middleware(mw):
            return attempt(lambda: mw({}, lambda *a: None))

        def run(host_ctx_org):
            out = {
                "open_request": attempt(open_request),
                "enter_scope_by_hand": attempt(enter_scope_by_hand),
                "call_c_enter": attempt(call_c_enter),
                "mutate": attempt(mutate),
                "mutate_item": attempt(mutate_item),
                "construct": attempt(construct),
                "build_middleware": attempt(build_middleware),
                "seen_org": context.current().org,
            }
            return out
        """,
}

# CHILD: the child program is tests/_support/children/request_forgery.py.


def test_extension_cannot_open_alter_or_forge_a_request_context(tmp_path: Path) -> None:
    write_tree(tmp_path / "plugins", ACME)
    out = run_program_json("request_forgery", str(tmp_path / "plugins"))
    r = out["result"]
    # opening one: sg.request(), the scope's __enter__, the C entry point, middleware
    assert r["open_request"] == ["violation", "introspection"]
    assert r["enter_scope_by_hand"] == ["violation", "introspection"]
    assert r["call_c_enter"] == ["violation", "introspection"]
    assert r["build_middleware"] == ["violation", "introspection"]
    assert out["mw"] == ["violation", "introspection"]     # calling the host's instance
    # altering the object: it is an immutable tuple without a constructor
    assert r["mutate"] == ["refused", "AttributeError"]
    assert r["mutate_item"] == ["refused", "TypeError"]
    assert r["construct"] == ["refused", "TypeError"]
    # the host's context was never replaced
    assert r["seen_org"] == "o-1" and out["after"] == "o-1"
    # setting the variable to a forged object or replaying an ended context is refused
    assert out["forged"] == ["violation", "request"]
    assert out["replay"] == ["violation", "request"]
    # the gated entry points' deny records, and the forged-context refusal's
    assert {"request_enter", "require_host", "request context"} <= set(out["denied"])


def test_request_context_inherited_by_tasks_and_bound_threads_and_stamped_on_records() -> None:
    out = run_program_json("request_inheritance")
    assert out["tasks"] == [["o-1"] * 5, ["o-2"] * 5]
    assert out["bound"] == "o-1"
    assert out["plain"] is None and out["outside"] is None
    assert (out["user"], out["org"]) == ("u-1", "o-1")


def test_bad_request_arguments_are_refused_with_a_clear_error() -> None:
    out = run_program_json("request_bad_arguments")
    assert out == ["ValueError", "ValueError", "TypeError", "TypeError", "ValueError"]


def test_asgi_and_wsgi_middleware_open_the_context_from_authenticate() -> None:
    out = run_program_json("request_middleware")
    assert out["a1"] == "u-1/o-1/['a.read']"
    assert out["a2"] == "u-2/o-2/[]"
    assert out["anon"] == 401
    assert out["wsgi"] == "o-2" and out["status"] == ["200 OK"]


def test_request_cannot_be_opened_on_an_extensions_behalf_inside_acting_as(
        tmp_path: Path) -> None:
    write_tree(tmp_path / "plugins", {"acme/__init__.py": "X = 1\n"})
    out = run_program_json("request_acting_as", str(tmp_path / "plugins"))
    assert out == ["request", "acme"]


def test_permission_grants_exact_prefix_and_star() -> None:
    import sdk_guard as sg
    with sg.request(user="u", org="o", permissions=["a.read", "b.*"]) as ctx:
        assert ctx.has("a.read") and not ctx.has("a.write")
        assert ctx.has("b.x.y") and ctx.has("b.x") and not ctx.has("bb.x")
    with sg.request(user="u", org="o", permissions=["*"]) as ctx:
        assert ctx.has("anything.at_all")
    assert sg.context.current() is None


REUSE = {
    "acme/__init__.py": """
        import asyncio
        import sdk_guard
        from sdk_guard import context

        @sdk_guard.action("acme.export", requires=["invoices.export"])
        def export():
            return context.current().org

        def attempt(fn):
            try:
                return ["done", fn()]
            except sdk_guard.PolicyViolation as e:
                return ["violation", e.capability]

        def stolen_contexts():
            # Task.get_context() on 3.12+; on every version, the Context a waiting
            # task registered with the future it awaits (its own Context object).
            me = asyncio.current_task()
            out = []
            for t in asyncio.all_tasks():
                if t is not me and not t.done():
                    out += [ctx for _, ctx in t._fut_waiter._callbacks]
                    if hasattr(t, "get_context"):
                        out.append(t.get_context())
            return out

        def scheduled_handle_contexts():
            loop = asyncio.get_running_loop()
            return [h._context for h in loop._scheduled]

        async def org_in_task():
            return attempt(export)

        async def act(ready):
            await ready.wait()
            own = attempt(export)
            task_ctxs = stolen_contexts()
            handle_ctxs = scheduled_handle_contexts()
            return {
                "own": own,
                "task_ctx_run": [c.run(attempt, export) for c in task_ctxs],
                "handle_ctx_run": [c.run(attempt, export) for c in handle_ctxs],
                "create_task_in_ctx": await asyncio.get_running_loop().create_task(
                    org_in_task(), context=task_ctxs[0]),
                "create_task_from_copy": await task_ctxs[0].run(asyncio.create_task,
                                                                org_in_task()),
                "to_thread": await asyncio.to_thread(task_ctxs[0].run, attempt, export),
            }
        """,
}


def test_another_requests_live_context_can_be_entered_from_a_task_or_thread(
        tmp_path: Path) -> None:
    # The limit docs/app-boundary.md states: extension code that reaches another
    # request's live Context (a task's, a scheduled handle's) acts inside it, whether it
    # enters it with Context.run, starts a task in it or runs it in a thread.
    write_tree(tmp_path / "plugins", REUSE)
    out = run_program_json("request_context_reuse", str(tmp_path / "plugins"))
    assert out["own"] == ["violation", "permission"]
    # every way in acts as o-2 with o-2's permissions: not closed
    assert out["task_ctx_run"] in ([["done", "o-2"]], [["done", "o-2"]] * 2)
    assert out["handle_ctx_run"] == [["done", "o-2"]]
    assert out["create_task_in_ctx"] == ["done", "o-2"]
    assert out["create_task_from_copy"] == ["done", "o-2"]
    assert out["to_thread"] == ["done", "o-2"]

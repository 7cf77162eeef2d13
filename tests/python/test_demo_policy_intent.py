"""The demo's policy (examples/policy.toml) stated as intent with the project's own pytest
plugin: each hostile action of evil_ext is refused with the capability and target a
reviewer expects, and the same calls in monitor mode go through but are recorded."""
from __future__ import annotations

from pathlib import Path

import pytest

from sdk_guard.pytest_plugin import GuardRun

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
POLICY = EXAMPLES / "policy.toml"


def _evil(sdk_guard_run, func: str, **kw) -> GuardRun:  # type: ignore[no-untyped-def]
    return sdk_guard_run(POLICY, extension="evil_ext", call=f"evil_ext.{func}",
                         pythonpath=[str(EXAMPLES)], **kw)


@pytest.mark.parametrize("func, capability, target", [
    ("read_passwd", "fs.read", "/etc/passwd"),
    ("connect_loopback", "net.connect", "127.0.0.1:9"),
    ("spawn_process", "process.spawn", None),
    ("use_ctypes", "native", None),
    ("exec_code", "dynamic_code", None),
    ("import_private_module", "import", "hostapp.db"),
])
def test_demo_evil_ext_is_denied_each_hostile_action(sdk_guard_run, func: str,  # type: ignore[no-untyped-def]
                                                      capability: str, target: str | None) -> None:
    r = _evil(sdk_guard_run, func)
    rec = r.assert_denied(capability=capability, target=target, principal="evil_ext")
    assert rec["rule"].startswith("extensions.evil_ext.")
    assert r.raised


def test_demo_evil_ext_in_monitor_mode_is_recorded_not_stopped(sdk_guard_run) -> None:  # type: ignore[no-untyped-def]
    r = _evil(sdk_guard_run, "read_passwd", mode="monitor")
    assert r.returned.startswith("root:")
    assert r.assert_denied(capability="fs.read", target="/etc/passwd")["decision"] == "would_deny"

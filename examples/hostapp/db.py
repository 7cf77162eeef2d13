"""Private storage engine of the host: extensions must go through hostapp.sdk.storage."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_root: Path | None = None


def open_store(root: str | os.PathLike[str]) -> None:
    """Point the store at ROOT (a directory only the host writes)."""
    global _root
    _root = Path(root)
    _root.mkdir(parents=True, exist_ok=True)


def put(namespace: str, key: str, value: Any) -> Path:
    if _root is None:
        raise RuntimeError("hostapp.db: open_store() first")
    path = _root / f"{namespace}.{key}.json"
    path.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
    return path


def get(namespace: str, key: str) -> Any:
    if _root is None:
        raise RuntimeError("hostapp.db: open_store() first")
    return json.loads((_root / f"{namespace}.{key}.json").read_text(encoding="utf-8"))

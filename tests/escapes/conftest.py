from pathlib import Path

import pytest

from _support.escape_tree import Env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)

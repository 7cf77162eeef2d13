from pathlib import Path

import pytest

from escape_kit import Env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)

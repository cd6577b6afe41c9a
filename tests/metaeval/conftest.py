"""Meta-evaluation test fixtures: the shared RewardBench file."""

from pathlib import Path

import pytest

from ..conftest import REWARDBENCH, skip_or_fail


@pytest.fixture(scope="session")
def rewardbench_file() -> Path:
    if not REWARDBENCH.exists():
        skip_or_fail(f"shared data not found at {REWARDBENCH}")
    return REWARDBENCH

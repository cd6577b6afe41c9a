"""Meta-evaluation test fixtures: the shared RewardBench and RM-Bench data."""

from pathlib import Path

import pytest

from ..conftest import REWARDBENCH, SHARED_DATA, skip_or_fail


@pytest.fixture(scope="session")
def rewardbench_file() -> Path:
    if not REWARDBENCH.exists():
        skip_or_fail(f"shared data not found at {REWARDBENCH}")
    return REWARDBENCH


@pytest.fixture(scope="session")
def rmbench_dir() -> Path:
    path = SHARED_DATA / "rm-bench"
    if not path.is_dir():
        skip_or_fail(f"shared data not found at {path}")
    return path

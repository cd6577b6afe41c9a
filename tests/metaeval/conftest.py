"""Meta-evaluation test fixtures: the shared RewardBench and RM-Bench data, as the benchmark tests find them."""

from ..benchmarks.conftest import rewardbench_file, rmbench_dir

__all__ = ["rewardbench_file", "rmbench_dir"]

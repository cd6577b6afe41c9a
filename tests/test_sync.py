"""The synchronous entry points: they run a coroutine from a script, and refuse clearly inside a running loop."""

import warnings

import pytest

from rm_gallery.graders.function import FunctionGrader
from rm_gallery.runner import GradingRunner
from rm_gallery.sync import run_sync


async def _answer(x: int) -> int:
    return 2 * x


def test_run_sync_runs_a_coroutine_without_a_loop():
    assert run_sync(_answer(21), what="f()", instead="await g()") == 42


async def test_run_sync_refuses_inside_a_running_loop_without_leaking_the_coroutine():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" would be a RuntimeWarning
        with pytest.raises(RuntimeError, match=r"f\(\) was called inside a running event loop.*use `await g\(\)`"):
            run_sync(_answer(1), what="f()", instead="await g()")


def test_grading_runner_run_works_from_a_script():
    runner = GradingRunner([FunctionGrader(lambda s: 1.0, name="one")], progress=False)
    results = runner.run([{"prompt": "q", "chosen": "a", "rejected": "b"}])
    assert results[0]["one"].value == 1.0


async def test_grading_runner_run_points_to_arun_inside_a_loop():
    runner = GradingRunner([FunctionGrader(lambda s: 1.0, name="one")], progress=False)
    with pytest.raises(RuntimeError, match=r"await runner.arun\(samples\)"):
        runner.run([{"prompt": "q", "chosen": "a", "rejected": "b"}])

"""The verl scale-out config and our reward functions, loaded by verl's own loaders in the verl venv.

verl pins transformers to a range the dev venv does not meet, so this runs ``verl_check.py`` with the
python of ``.venv-verl`` (``scripts/setup_verl_env.sh``; or ``$RM_GALLERY_VERL_PYTHON``). Without that venv
the test skips locally and fails under scripts/test.sh (``RM_GALLERY_REQUIRE_REAL=1``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ..conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]


def verl_python() -> Path:
    env = os.environ.get("RM_GALLERY_VERL_PYTHON")
    return Path(env) if env else ROOT / ".venv-verl" / "bin" / "python"


@pytest.fixture(scope="module")
def verl_result(tiny_model_dir) -> dict:
    python = verl_python()
    if not python.exists():
        skip_or_fail(f"verl venv not found at {python}: run scripts/setup_verl_env.sh")
    tokenizer = tiny_model_dir
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([str(python), str(Path(__file__).with_name("verl_check.py")), str(ROOT / "examples/verl"),
                           str(tokenizer)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_config_composes_on_verl_defaults(verl_result):
    assert verl_result["adv_estimator"] == "grpo"
    assert verl_result["shuffle"] is False                    # the pair-preserving order is written to parquet
    assert verl_result["manager"] == "NaiveRewardManager"     # per-sample compute_score


@pytest.mark.slow
def test_per_sample_compute_score_through_verl_loader(verl_result):
    good, bad = verl_result["per_sample"]
    assert good["score"] == 1.0 and bad["score"] == 0.0
    assert list(good) == list(bad)                            # verl reads the first sample's keys for all
    seed = verl_result["seed"]
    assert (seed["score"], seed["preferred"], seed["strength"], seed["error"]) == (1.0, "B", 1, "")
    assert list(seed) == list(good)


@pytest.mark.slow
def test_batch_variant_and_par_through_verl_batch_manager(verl_result):
    scores, extra = verl_result["batch"]
    assert scores == [1.0, 0.0, 0.0] and extra["predicted"] == ["A", "A", "A"]
    assert extra["error"][:2] == ["", ""] and extra["error"][2].startswith("missing_label")   # not a silent 0
    par_scores, par_extra = verl_result["par"]
    assert par_scores == pytest.approx([1.3, 0.0, 1.3, -1.5], abs=1e-6)
    assert par_extra["judge_score"] == ["8.0", "4.0", "5.0", "9.0"]

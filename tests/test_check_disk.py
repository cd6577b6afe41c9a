"""scripts/check_disk.sh: the set-up scripts stop in one line when the disk cannot hold what is still missing,
instead of a pip install failing midway with ENOSPC (as a CI run did on a disk filled by old clones)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_disk.sh"


def run(tmp_path: Path, free_mb: int, *parts: str, **env: str) -> subprocess.CompletedProcess:
    """Run the script with a `df` that reports free_mb, and every environment pointed at tmp_path paths."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "df").write_text("#!/bin/sh\necho 'Filesystem 1M-blocks Used Available Capacity Mounted on'\n"
                                f"echo '/dev/x 999999 1 {free_mb} 1% /'\n")
    (bin_dir / "df").chmod(0o755)
    base = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path),
            "RM_GALLERY_VENV": str(tmp_path / "venv"), "RM_GALLERY_VLLM_VENV": str(tmp_path / "vllm"),
            "RM_GALLERY_VERL_VENV": str(tmp_path / "verl"), "RM_GALLERY_SMOLLM2": str(tmp_path / "smollm2")}
    return subprocess.run(["bash", str(SCRIPT), *parts], env=base | env, capture_output=True, text=True)


def test_too_little_disk_for_the_missing_parts_is_one_line_naming_them(tmp_path):
    p = run(tmp_path, 3000, "venv", "vllm", "smollm2")
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "3000 MB free" in lines[0]
    assert ".venv .venv-vllm the SmolLM2 judge" in lines[0] and "7200 MB" in lines[0]


def test_parts_already_set_up_need_nothing(tmp_path):
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").write_text("")
    (tmp_path / "venv" / "bin" / "python").chmod(0o755)
    (tmp_path / "vllm").mkdir()
    (tmp_path / "vllm" / ".rm_gallery_vllm_ready").write_text("x")
    assert run(tmp_path, 100, "venv", "vllm").returncode == 0
    p = run(tmp_path, 100, "venv", "vllm", "verl")  # only the verl venv is missing
    assert p.returncode == 1 and "setting up .venv-verl needs about 2500 MB" in p.stderr


@pytest.mark.parametrize("free_mb, code", [(7199, 1), (7200, 0)])
def test_the_threshold_is_the_sum_of_what_is_missing(tmp_path, free_mb, code):
    assert run(tmp_path, free_mb, "venv", "vllm", "smollm2").returncode == code


def test_unknown_part_is_refused(tmp_path):
    p = run(tmp_path, 10**6, "gpu")
    assert p.returncode == 2 and "unknown part 'gpu'" in p.stderr

#!/usr/bin/env bash
# The test command (README, CI): set up the three environments from nothing (idempotent: .venv for the
# project, .venv-vllm for the real inference server, .venv-verl for verl's reward loader), then run ruff and the
# whole suite, slow and integration tests included (the built-in real judge, SmolLM2, is built for them).
# The vLLM venv is required: its absence fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${RM_GALLERY_VENV:-.venv}
start=$(date +%s)
# Disk preflight: the three venvs and the judge take about 8 GB (measured: .venv 2.0, .venv-vllm 3.5, .venv-verl
# 1.9, SmolLM2 0.5 GB); a full disk would otherwise fail midway through a pip install. Only what is missing counts.
need_mb=0
[ -x "$VENV/bin/python" ] || need_mb=$((need_mb + 2500))
[ -f "${RM_GALLERY_VLLM_VENV:-.venv-vllm}/.rm_gallery_vllm_ready" ] || need_mb=$((need_mb + 4000))
[ -f "${RM_GALLERY_VERL_VENV:-.venv-verl}/.rm_gallery_verl_ready" ] || need_mb=$((need_mb + 2500))
[ -d "${RM_GALLERY_SMOLLM2:-$HOME/.cache/rm_gallery/smollm2-135m-instruct}" ] || need_mb=$((need_mb + 700))
free_mb=$(df -Pm . | awk 'NR==2 {print $4}')
if [ "$need_mb" -gt 0 ] && [ "$free_mb" -lt "$need_mb" ]; then
    echo "scripts/test.sh: $PWD has ${free_mb} MB free; setting up the test environments needs about ${need_mb} MB" \
         "(venvs .venv, .venv-vllm, .venv-verl and the SmolLM2 judge); free some disk and rerun" >&2
    exit 1
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev,train,ray]"
bash scripts/setup_vllm_env.sh >/dev/null
bash scripts/setup_real_judge.sh >/dev/null   # the built-in real judge (SmolLM2) for its integration tests
bash scripts/setup_verl_env.sh >/dev/null
"$VENV/bin/ruff" check rm_gallery tests perf
echo "[test.sh] environments ready in $(( $(date +%s) - start ))s" >&2
export RM_GALLERY_REQUIRE_REAL=1   # a missing vLLM venv or shared data fails the run instead of skipping
exec "$VENV/bin/python" -m pytest -q "$@"

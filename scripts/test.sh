#!/usr/bin/env bash
# The test command (README, CI): set up the three environments from nothing (idempotent: .venv for the
# project, .venv-vllm for the real inference server, .venv-verl for verl's reward loader), then run ruff and the
# whole suite, slow and integration tests included (the built-in real judge, SmolLM2, is built for them).
# The vLLM venv is required: its absence fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${RM_GALLERY_VENV:-.venv}
start=$(date +%s)
bash scripts/check_disk.sh venv vllm smollm2 verl   # a full disk fails here, in one line, not mid-install
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev,train,ray]"
bash scripts/setup_vllm_env.sh >/dev/null
bash scripts/setup_real_judge.sh >/dev/null   # the built-in real judge (SmolLM2) for its integration tests
bash scripts/setup_verl_env.sh >/dev/null
"$VENV/bin/ruff" check rm_gallery tests perf
echo "[test.sh] environments ready in $(( $(date +%s) - start ))s" >&2
export RM_GALLERY_REQUIRE_REAL=1   # a missing vLLM venv or shared data fails the run instead of skipping
exec "$VENV/bin/python" -m pytest -q "$@"

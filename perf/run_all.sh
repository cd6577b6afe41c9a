#!/usr/bin/env bash
# Run the whole perf harness and print every table; JSON lands in perf/results/<script>.json.
#
#   bash perf/run_all.sh            # defaults (about 15 minutes on a 2-core machine)
#   bash perf/run_all.sh --quick    # smaller N and fewer repeats (about 8 minutes)
#
# Needs the dev venv (.venv) and the vLLM venv (.venv-vllm, from scripts/setup_vllm_env.sh); creates OpenJudge's
# own venv (.venv-openjudge) on first use. Any extra argument is passed to every script (only --quick is shared).
# perf/fuzz_parsers.py, perf/load_test.py and perf/check_data.py run too when present.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${RM_GALLERY_VENV:-.venv}/bin/python
[ -x "$PY" ] || { echo "no $PY: run scripts/test.sh (or create .venv and pip install -e '.[dev,local]') first" >&2; exit 1; }
[ -x .venv-vllm/bin/python ] || bash scripts/setup_vllm_env.sh >/dev/null

scripts=(engine_throughput transports warm_cache scale_out compare_openjudge token_economy)
for extra in fuzz_parsers load_test check_data; do
    [ -f "perf/$extra.py" ] && scripts+=("$extra")
done
"$PY" -c "import ray.data" 2>/dev/null && scripts+=(ray_scale)   # the [ray] extra

failed=()
for s in "${scripts[@]}"; do
    echo
    echo "=================== perf/$s.py $* ==================="
    start=$(date +%s)
    if "$PY" "perf/$s.py" "$@"; then
        echo "[perf/$s.py: $(( $(date +%s) - start ))s]"
    else
        echo "[perf/$s.py FAILED after $(( $(date +%s) - start ))s]"
        failed+=("$s")
    fi
done

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
echo "all perf scripts done; JSON in perf/results/"

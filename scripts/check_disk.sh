#!/usr/bin/env bash
# Fail early, in one line, when the disk cannot hold the environments still to be set up (a full disk would
# otherwise stop a pip install midway). Sizes were measured on a fresh set-up: .venv 2.0 GB, .venv-vllm 3.5 GB,
# .venv-verl 1.9 GB, the SmolLM2 judge 0.5 GB; each is counted with some headroom for pip's unpacking, and only
# if it is not already there. Usage: scripts/check_disk.sh [venv] [vllm] [verl] [smollm2]
set -euo pipefail
cd "$(dirname "$0")/.."
need_mb=0
missing=()
for part in "$@"; do
    case "$part" in
        venv)    [ -x "${RM_GALLERY_VENV:-.venv}/bin/python" ] || { need_mb=$((need_mb + 2500)); missing+=(.venv); } ;;
        vllm)    [ -f "${RM_GALLERY_VLLM_VENV:-.venv-vllm}/.rm_gallery_vllm_ready" ] \
                     || { need_mb=$((need_mb + 4000)); missing+=(.venv-vllm); } ;;
        verl)    [ -f "${RM_GALLERY_VERL_VENV:-.venv-verl}/.rm_gallery_verl_ready" ] \
                     || { need_mb=$((need_mb + 2500)); missing+=(.venv-verl); } ;;
        smollm2) [ -d "${RM_GALLERY_SMOLLM2:-$HOME/.cache/rm_gallery/smollm2-135m-instruct}" ] \
                     || { need_mb=$((need_mb + 700)); missing+=("the SmolLM2 judge"); } ;;
        *) echo "scripts/check_disk.sh: unknown part '$part' (venv, vllm, verl, smollm2)" >&2; exit 2 ;;
    esac
done
free_mb=$(df -Pm . | awk 'NR==2 {print $4}')
if [ "$need_mb" -gt 0 ] && [ "$free_mb" -lt "$need_mb" ]; then
    echo "$PWD has ${free_mb} MB free; setting up ${missing[*]} needs about ${need_mb} MB: free some disk and rerun" >&2
    exit 1
fi

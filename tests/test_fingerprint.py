# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Weights fingerprints: which files count, and that any byte of them counts."""

import hashlib
import json
import os
import shutil

from trl_entropy.fingerprint import short_fingerprint, weight_files, weights_fingerprint
from trl_entropy.tasks import TINY_POLICY_PATH


def _touch(root, name, content=b"x"):
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)


def test_weight_files_are_the_models_not_the_training_states(tmp_path):
    for name in (
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "adapter_model.safetensors",
        "critic/model.safetensors",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state.pth",
        "rng_state_1.pth",
        "training_args.bin",
        "critic/critic_optimizer.pt",
        "checkpoint-10/model.safetensors",
        "eval/countdown/summary.json",
        "config.json",
    ):
        _touch(tmp_path, name)
    assert weight_files(tmp_path) == [
        "adapter_model.safetensors",
        os.path.join("critic", "model.safetensors"),
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]


def test_fingerprint_is_the_sha256_of_names_sizes_and_contents(tmp_path):
    _touch(tmp_path, "model.safetensors", b"abc")
    entry = {"file": "model.safetensors", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}
    expected = hashlib.sha256((json.dumps(entry, sort_keys=True) + "\n").encode()).hexdigest()
    assert weights_fingerprint(tmp_path) == "sha256:" + expected
    assert short_fingerprint(weights_fingerprint(tmp_path)) == expected[:12]
    # Optimizer and scheduler states do not change it.
    _touch(tmp_path, "optimizer.pt", b"state")
    assert weights_fingerprint(tmp_path) == "sha256:" + expected


def test_every_byte_counts_and_the_same_bytes_give_the_same_fingerprint(tmp_path):
    copy = tmp_path / "policy"
    shutil.copytree(TINY_POLICY_PATH, copy)
    original = weights_fingerprint(TINY_POLICY_PATH)
    assert weights_fingerprint(copy) == original
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    # Same shapes, same header, same size: only the middle byte of the file differs.
    data[len(data) // 2] ^= 1
    weights.write_bytes(bytes(data))
    assert weights_fingerprint(copy) != original
    data[len(data) // 2] ^= 1
    weights.write_bytes(bytes(data))
    assert weights_fingerprint(copy) == original


def test_no_fingerprint_without_local_weights(tmp_path):
    assert weights_fingerprint("org/model") is None
    assert weights_fingerprint(tmp_path) is None
    assert short_fingerprint(None) == "none"

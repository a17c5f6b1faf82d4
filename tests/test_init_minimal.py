# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""TRL's `test_init_minimal` for every method: only a model, a reward function and a dataset, no `args`. Each trainer
builds its own config from its defaults, which must be a configuration the trainer accepts."""

import pytest
import transformers

from trl_entropy.methods import METHODS, get_method
from trl_entropy.tasks import countdown_reward, load_tiny_policy


@pytest.mark.parametrize("name", sorted(METHODS))
def test_init_minimal(name, prompt_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output_dir is relative to the working directory
    # GRPOConfig defaults to bf16=True, which TrainingArguments refuses without a GPU: pretend bf16 is supported.
    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: True)
    method = get_method(name)
    trainer = method.trainer_class(load_tiny_policy()[0], countdown_reward, train_dataset=prompt_dataset)
    assert type(trainer.args) is method.config_class
    assert trainer.args.output_dir.endswith(trainer._output_suffix)

# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
import dataclasses

import pytest
from trl import GRPOConfig

from trl_entropy import EntropyAdvantageGRPOConfig
from trl_entropy.methods import METHODS


def make_config(tmp_path, **kwargs):
    return EntropyAdvantageGRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", **kwargs)


def test_defaults_are_the_papers(tmp_path):
    config = make_config(tmp_path)
    assert config.entropy_advantage_alpha == 0.4
    assert config.entropy_advantage_kappa == 2.0
    assert isinstance(config, GRPOConfig)


def test_every_method_field_has_help_and_a_prefix():
    grpo_fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    method_fields = [f for f in dataclasses.fields(EntropyAdvantageGRPOConfig) if f.name not in grpo_fields]
    assert {f.name for f in method_fields} == {"entropy_advantage_alpha", "entropy_advantage_kappa"}
    prefixes = (
        "entropy_advantage_",
        "ppl_",
        "position_",
        "stage_",
        "shaping_",
        "paec_",
        "sent_",
        "ppo_",
        "clip_cov_",
        "kl_cov_",
    )
    for method in METHODS.values():
        for f in dataclasses.fields(method.config_class):
            if f.name not in grpo_fields:
                assert f.metadata.get("help"), f.name
                # `methods`: the composed config's list of the methods it runs
                assert f.name.startswith(prefixes) or f.name == "methods", f.name


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "entropy_advantage_alpha",
            -0.5,
            r"`entropy_advantage_alpha` must be >= 0 \(valid range: \[0, inf\)\), got -0.5",
        ),
        (
            "entropy_advantage_kappa",
            1.0,
            r"`entropy_advantage_kappa` must be > 1 \(valid range: \(1, inf\)\), got 1.0",
        ),
        ("entropy_advantage_kappa", -3.0, r"`entropy_advantage_kappa` must be > 1 .* got -3.0"),
    ],
)
def test_validation_names_field_value_and_range(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message):
        make_config(tmp_path, **{field: value})


def test_grpo_fields_still_work(tmp_path):
    config = make_config(tmp_path, loss_type="bnpo", num_iterations=2, epsilon_high=0.28, entropy_advantage_alpha=0.1)
    assert (config.loss_type, config.num_iterations, config.epsilon_high) == ("bnpo", 2, 0.28)
    assert config.entropy_advantage_alpha == 0.1

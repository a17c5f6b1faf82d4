# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The package layout keeps its public names: each method's mathematics lives in its own package and is the same
object under its former module path; the method packages export their config, trainer and component."""

import importlib
import subprocess
import sys

import pytest

import trl_entropy
import trl_entropy.functional as functional


FORMER_MODULES = {
    "entropy_advantage": "trl_entropy.entropy_advantage.functional",
    "ppl_shaping": "trl_entropy.ppl_shaping.functional",
    "position_shaping": "trl_entropy.position_shaping.functional",
    "paec": "trl_entropy.paec.functional",
    "sent_kl": "trl_entropy.sent.functional",
    "semantic_entropy": "trl_entropy.sent.semantic_entropy",
    "covariance": "trl_entropy.covariance.functional",
    "ppo": "trl_entropy.ppo.functional",
}


@pytest.mark.parametrize(("former", "home"), sorted(FORMER_MODULES.items()))
def test_former_functional_modules_are_the_methods_own(former, home):
    shim, module = importlib.import_module(f"trl_entropy.functional.{former}"), importlib.import_module(home)
    functions = [name for name, value in vars(module).items() if callable(value) and value.__module__ == home]
    assert functions
    for name in functions:
        assert getattr(shim, name) is getattr(module, name), name


def test_every_exported_name_imports():
    for name in trl_entropy.__all__:
        assert getattr(trl_entropy, name) is not None, name
    for name in functional.__all__:
        assert getattr(functional, name) is not None, name
    assert (
        trl_entropy.EntropyGRPOTrainer
        is importlib.import_module("trl_entropy.entropy_grpo_trainer").EntropyGRPOTrainer
    )


@pytest.mark.parametrize(
    ("package", "names"),
    [
        ("paec", ["PAECGRPOConfig", "PAECGRPOTrainer", "PAECRegularizer", "PAECAnchor"]),
        ("covariance", ["ClipCovGRPOTrainer", "ClipCovShaper", "KLCovGRPOTrainer", "KLCovPenalty"]),
        ("sent", ["SENTGRPOTrainer", "SENTKLPenalty", "SemanticEntropyCurriculum", "CurriculumMetrics"]),
        ("entropy_advantage", ["EntropyAdvantageGRPOTrainer", "EntropyAdvantageShaper"]),
    ],
)
def test_method_packages_export_config_trainer_and_component(package, names):
    module = importlib.import_module(f"trl_entropy.{package}")
    assert set(names) <= set(module.__all__) and all(getattr(module, name) for name in names)


def test_the_mathematics_imports_without_trl():
    # `trl_entropy.functional` and a method's `functional` module need torch only: the method packages export lazily
    code = "import sys, trl_entropy.functional, trl_entropy.paec.functional; print('trl' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

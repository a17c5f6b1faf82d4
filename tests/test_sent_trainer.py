# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`SENTGRPOTrainer`: the on-policy refusal, the loss term against its definition, and a short curriculum training."""

from pathlib import Path

import pytest
import torch
import transformers.training_args
from conftest import completion_logits, cpu_grpo_kwargs, first_batch
from trl import GRPOConfig, GRPOTrainer

from trl_entropy import SemanticEntropyCurriculum, SENTGRPOConfig, SENTGRPOTrainer
from trl_entropy.functional import low_entropy_cov_kl, low_entropy_cov_selection
from trl_entropy.tasks import build_dataset, countdown_reward, load_tiny_policy


RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def make(tokenizer, dataset, output_dir, config_class=SENTGRPOConfig, **overrides):
    kwargs = cpu_grpo_kwargs(
        output_dir, per_device_train_batch_size=16, num_generations=8, max_completion_length=12, max_steps=3
    )
    kwargs.update(overrides)
    return SENTGRPOTrainer(
        model=load_tiny_policy()[0],
        reward_funcs=countdown_reward,
        args=config_class(**kwargs),
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def reference_forward(trainer, inputs):
    """Per-token log-probs and entropies from the full logits of an ordinary forward (no fused head)."""
    log_probs = completion_logits(trainer, inputs).log_softmax(-1)
    logps = log_probs.gather(-1, inputs["completion_ids"].unsqueeze(-1)).squeeze(-1)
    return logps, -(log_probs.exp() * log_probs).sum(-1)


# ---------------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config_class, overrides",
    [(GRPOConfig, {}), (SENTGRPOConfig, {"steps_per_generation": 1}), (SENTGRPOConfig, {"generation_batch_size": 16})],
    ids=["GRPOConfig-defaults", "SENTGRPOConfig-steps_per_generation", "SENTGRPOConfig-generation_batch_size"],
)
def test_fully_on_policy_kl_is_refused(config_class, overrides, tokenizer, prompt_dataset, tmp_path):
    # TRL's defaults (a plain GRPOConfig keeps them), or a SENTGRPOConfig set explicitly to one update per generation:
    # one iteration, steps_per_generation = gradient_accumulation_steps: p_old = p at every update.
    with pytest.raises(ValueError, match=r"num_iterations > 1.*steps_per_generation.*sent_kl_target='ref'"):
        make(tokenizer, prompt_dataset, tmp_path, config_class=config_class, **overrides)
    # Also with accumulation: 4 micro-batches per step, 2 per generation, still every update on-policy.
    with pytest.raises(ValueError, match="every update on-policy"):
        make(tokenizer, prompt_dataset, tmp_path, gradient_accumulation_steps=4, steps_per_generation=2)


@pytest.mark.parametrize(
    "overrides",
    [
        {"num_iterations": 2},
        {"steps_per_generation": 2},
        {"gradient_accumulation_steps": 2, "steps_per_generation": 4},
        {"sent_use_kl": False},
        {"sent_kl_target": "ref", "beta": 0.01},
    ],
)
def test_settings_where_the_kl_acts_are_accepted(overrides, tokenizer, prompt_dataset, tmp_path):
    trainer = make(tokenizer, prompt_dataset, tmp_path, **overrides)
    assert trainer.sent["sent_kl_coef"] == 0.1


@pytest.mark.parametrize(
    "overrides, steps_per_generation",
    [
        ({}, 2),
        ({"gradient_accumulation_steps": 3}, 6),
        ({"num_iterations": 2}, 2),
        ({"steps_per_generation": 1}, 1),
        ({"steps_per_generation": 3}, 3),
        ({"generation_batch_size": 48}, 3),
    ],
)
def test_default_is_two_updates_per_generation(overrides, steps_per_generation, tmp_path):
    # The authors' setting (batch 256, mini-batch 128) unless the user sets steps_per_generation or
    # generation_batch_size; TRL's GRPOConfig would give steps_per_generation = gradient_accumulation_steps.
    args = SENTGRPOConfig(**cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=16, num_generations=8, **overrides))
    assert args.steps_per_generation == steps_per_generation
    assert args.generation_batch_size == 16 * steps_per_generation
    plain = GRPOConfig(**cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=16, num_generations=8))
    assert plain.steps_per_generation == plain.gradient_accumulation_steps == 1
    help_text = SENTGRPOConfig.__dataclass_fields__["steps_per_generation"].metadata["help"]
    assert "`2 * gradient_accumulation_steps`" in help_text  # what `trl-entropy train --method sent --help` says


def test_init_minimal(prompt_dataset, tmp_path, monkeypatch):
    # TRL's `test_init_minimal`: only a model, a reward function and a dataset. The trainer builds its own
    # SENTGRPOConfig, whose defaults make the token KL act (two updates per generation), so it is not refused.
    monkeypatch.chdir(tmp_path)  # the default output_dir is relative to the working directory
    # GRPOConfig defaults to bf16=True, which TrainingArguments refuses without a GPU: pretend bf16 is supported.
    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: True)
    trainer = SENTGRPOTrainer(load_tiny_policy()[0], countdown_reward, train_dataset=prompt_dataset)
    assert type(trainer.args) is SENTGRPOConfig
    assert trainer.args.num_iterations == 1
    assert trainer.args.steps_per_generation == 2 * trainer.args.gradient_accumulation_steps
    assert trainer.args.output_dir.endswith("-SENT-GRPO")
    assert trainer.sent["sent_kl_target"] == "old" and trainer.sent["sent_use_kl"]


def test_reference_kl_needs_beta(tokenizer, prompt_dataset, tmp_path):
    with pytest.raises(ValueError, match="only with `beta > 0`, got beta=0.0"):
        make(tokenizer, prompt_dataset, tmp_path, sent_kl_target="ref")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("sent_low_entropy_share", 0.0, r"`sent_low_entropy_share` must be in \(0, 1\], got 0.0"),
        ("sent_cov_ratio", 0.7, r"`sent_cov_ratio` must be in \(0, 0.5\], got 0.7"),
        ("sent_kl_coef", -1.0, r"`sent_kl_coef` must be a finite number >= 0, got -1.0"),
        ("sent_high_cov_mult", -2.0, r"`sent_high_cov_mult` must be a finite number >= 0"),
        ("sent_low_cov_mult", float("inf"), r"`sent_low_cov_mult` must be a finite number >= 0"),
        ("sent_kl_target", "reference", r"`sent_kl_target` must be one of \('old', 'ref'\), got 'reference'"),
        ("sent_cov_scope", "batch", r"`sent_cov_scope` must be one of \('local', 'global'\), got 'batch'"),
    ],
)
def test_config_validation_names_the_field(field, value, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        SENTGRPOConfig(**cpu_grpo_kwargs(tmp_path), **{field: value})


# ---------------------------------------------------------------------------------------------------------------------
# The loss term
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"steps_per_generation": 2},
        {"steps_per_generation": 2, "sent_cov_scope": "global", "sent_low_entropy_share": 0.5},
        {"sent_kl_target": "ref", "beta": 0.04, "sent_high_cov_mult": 3.0},
    ],
)
def test_loss_term_equals_the_definition(overrides, tokenizer, prompt_dataset, tmp_path):
    trainer = make(tokenizer, prompt_dataset, tmp_path, sent_cov_ratio=0.05, sent_kl_coef=0.3, **overrides)
    inputs = first_batch(trainer)
    target_key = "ref_per_token_logps" if trainer.sent["sent_kl_target"] == "ref" else "old_per_token_logps"
    # A target policy that differs from the current one (as after an update), so that the term is not zero.
    generator = torch.Generator().manual_seed(0)
    logps, entropies = reference_forward(trainer, inputs)
    inputs[target_key] = logps + 0.3 * torch.randn(logps.shape, generator=generator)

    loss = trainer.compute_loss(trainer.model, inputs)
    trl_loss = GRPOTrainer._compute_loss(trainer, trainer.model, inputs)

    args = trainer.args
    mask = inputs["completion_mask"].float()
    per_token = low_entropy_cov_kl(
        entropies,
        logps,
        inputs[target_key],
        inputs["advantages"],
        mask,
        low_entropy_share=args.sent_low_entropy_share,
        ratio=args.sent_cov_ratio,
        coef=args.sent_kl_coef,
        high_mult=args.sent_high_cov_mult,
        low_mult=args.sent_low_cov_mult,
        estimator="k3" if args.sent_kl_target == "ref" else "abs",
    )
    expected = (per_token * mask).sum() / mask.sum()
    assert expected.item() > 0
    torch.testing.assert_close(loss - trl_loss, expected, rtol=1e-4, atol=1e-6)

    # The logged shares are those of the selection, computed by hand from the same forward.
    selection = low_entropy_cov_selection(
        entropies, logps, inputs["advantages"], mask, args.sent_low_entropy_share, args.sent_cov_ratio
    )
    metrics = trainer._metrics["train"]
    num_valid = mask.sum().item()
    assert metrics["entropy/sent_high_share"][-1] == pytest.approx(selection.high_cov.sum().item() / num_valid)
    assert metrics["entropy/sent_low_share"][-1] == pytest.approx(selection.low_cov.sum().item() / num_valid)
    assert metrics["entropy/sent_low_entropy_share"][-1] == pytest.approx(
        selection.low_entropy.sum().item() / num_valid
    )
    assert metrics["entropy/sent_kl_penalty"][-1] == pytest.approx(expected.item(), rel=1e-4)


def test_on_policy_pass_adds_nothing_and_no_kl_adds_nothing(tokenizer, prompt_dataset, tmp_path):
    # The first mini-batch of a generation batch is trained by the policy that sampled it: TRL's old log-probs are
    # the current ones, and the term is zero up to float noise.
    trainer = make(tokenizer, prompt_dataset, tmp_path, steps_per_generation=2)
    inputs = first_batch(trainer)
    mask = inputs["completion_mask"].bool()
    current = reference_forward(trainer, inputs)[0]
    torch.testing.assert_close(inputs["old_per_token_logps"][mask], current[mask], rtol=0, atol=1e-5)
    loss = trainer.compute_loss(trainer.model, inputs)
    torch.testing.assert_close(loss, GRPOTrainer._compute_loss(trainer, trainer.model, inputs))
    assert trainer._metrics["train"]["entropy/sent_kl_penalty"][-1] < 1e-6

    no_kl = make(tokenizer, prompt_dataset, tmp_path, sent_use_kl=False)
    inputs = first_batch(no_kl)
    inputs["old_per_token_logps"] = reference_forward(no_kl, inputs)[0] - 0.5
    torch.testing.assert_close(
        no_kl.compute_loss(no_kl.model, inputs), GRPOTrainer._compute_loss(no_kl, no_kl.model, inputs)
    )
    assert no_kl._metrics["train"]["entropy/sent_kl_penalty"][-1] > 0  # measured, not added

    # Measurement only, against a reference model that TRL does not load (beta = 0): nothing to measure, no error.
    no_reference = make(tokenizer, prompt_dataset, tmp_path, sent_use_kl=False, sent_kl_target="ref")
    inputs = first_batch(no_reference)
    loss = no_reference.compute_loss(no_reference.model, inputs)
    torch.testing.assert_close(loss, GRPOTrainer._compute_loss(no_reference, no_reference.model, inputs))
    assert no_reference._metrics["train"]["entropy/sent_kl_penalty"][-1] == 0


# ---------------------------------------------------------------------------------------------------------------------
# Training with the curriculum
# ---------------------------------------------------------------------------------------------------------------------


def test_short_training_on_a_scored_curriculum(tokenizer, tmp_path):
    dataset = build_dataset(split="train", n=48, seed=1)
    model, _ = load_tiny_policy()
    curriculum = SemanticEntropyCurriculum.from_policy(
        dataset, model, tokenizer=tokenizer, num_samples=8, max_new_tokens=12, cache_dir=str(tmp_path / "cache")
    )
    scores = curriculum["semantic_entropy"][:]
    assert scores == sorted(scores) and scores[0] < scores[-1]

    trainer = SENTGRPOTrainer(
        model=model,
        reward_funcs=countdown_reward,
        args=SENTGRPOConfig(
            **cpu_grpo_kwargs(
                tmp_path / "run",
                per_device_train_batch_size=32,
                num_generations=8,
                max_completion_length=12,
                steps_per_generation=2,
                max_steps=6,
                learning_rate=5e-4,
                shuffle_dataset=False,
                sent_cov_ratio=0.05,
            )
        ),
        train_dataset=curriculum,
        processing_class=tokenizer,
    )
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    assert any(not torch.equal(before[name], p) for name, p in trainer.model.named_parameters())

    history = [entry for entry in trainer.state.log_history if "entropy/sent_kl_penalty" in entry]
    assert len(history) == 6
    # Generation batches of 8 prompts, each trained on for two steps: the second step is off-policy.
    on_policy = [entry["entropy/sent_kl_penalty"] for entry in history[0::2]]
    off_policy = [entry["entropy/sent_kl_penalty"] for entry in history[1::2]]
    assert max(on_policy) < 1e-6 < min(off_policy), (on_policy, off_policy)
    assert all(0 < entry["entropy/sent_high_share"] <= 0.05 for entry in history)
    # The batches' semantic entropy follows the curriculum: the mean of each consecutive block of 8 prompts.
    logged = [entry["entropy/curriculum_semantic_entropy"] for entry in history[0::2]]
    expected = [sum(scores[8 * i : 8 * i + 8]) / 8 for i in range(3)]
    assert logged == pytest.approx(expected, abs=1e-6)
    assert logged == sorted(logged)

    # The model card names the method, its paper and the curriculum the run trained on.
    trainer.create_model_card()
    card = (tmp_path / "run" / "README.md").read_text()
    assert "SENT GRPO" in card and "2512.04359" in card
    assert "| `sent_kl_coef` | 0.1 |" in card
    assert "| `curriculum_order` | ascending |" in card and "| `curriculum_prompts` | 48 |" in card


def test_recipe_script_trains_on_a_saved_curriculum(tmp_path, monkeypatch):
    # A dataset written by `trl-entropy curriculum` carries its scores: the recipe script orders it without scoring.
    from trl_entropy.scripts.train import main as train_main
    from trl_entropy.sent import scorer

    dataset = build_dataset(split="train", n=64, seed=2)
    SemanticEntropyCurriculum(dataset, [(7 * i) % 64 / 32 for i in range(64)]).save_to_disk(str(tmp_path / "data"))

    def no_scoring(*args, **kwargs):
        raise AssertionError("a scored dataset must not be scored again")

    monkeypatch.setattr(scorer, "score_semantic_entropy", no_scoring)
    trainer = train_main(
        ["--config", str(RECIPES / "tiny" / "sent_stage1.yaml"), "--dataset_name", str(tmp_path / "data"),
         "--output_dir", str(tmp_path / "run"), "--max_steps", "2", "--per_device_train_batch_size", "16",
         "--task_eval_problems", "0", "--disable_tqdm", "true", "--report_to", "none"]
    )  # fmt: skip
    curriculum = trainer.train_dataset
    assert isinstance(curriculum, SemanticEntropyCurriculum)
    assert (curriculum.order, curriculum.stage, len(curriculum)) == ("stages", 1, 32)
    assert max(curriculum["semantic_entropy"][:]) < 1.0  # the lower half of scores 0, 1/32, ..., 63/32
    assert trainer.state.global_step == 2

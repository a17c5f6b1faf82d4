# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`methods: [...]`: any set of components in one trainer, in the documented order, against the components applied
one after another by hand."""

import pytest
import torch
from conftest import cpu_grpo_kwargs, first_batch
from trl import GRPOConfig

from trl_entropy import (
    Component,
    ComposedGRPOConfig,
    ComposedGRPOTrainer,
    EntropyGRPOTrainer,
    KLCovGRPOConfig,
    KLCovGRPOTrainer,
    PAECGRPOConfig,
    PAECGRPOTrainer,
)
from trl_entropy.composition import COMPONENTS
from trl_entropy.covariance.functional import kl_cov_penalty, kl_cov_selection, token_covariance
from trl_entropy.functional import entropy_advantage, position_shaped_advantages
from trl_entropy.hook import LossPass, resolve_components
from trl_entropy.hook.component import SHAPER_ORDER
from trl_entropy.ppl_shaping.component import WEIGHTS_KEY
from trl_entropy.tasks import countdown_reward, load_tiny_policy


def make(tokenizer, dataset, tmp_path, trainer_class=ComposedGRPOTrainer, config_class=ComposedGRPOConfig, callbacks=None,
         **kw):  # fmt: skip
    model, _ = load_tiny_policy()
    kwargs = cpu_grpo_kwargs(tmp_path, per_device_train_batch_size=32, num_generations=8, max_completion_length=12)
    kwargs.update(kw)
    return trainer_class(
        model=model,
        reward_funcs=countdown_reward,
        args=config_class(**kwargs),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )


def logged_keys(trainer):
    return {key for entry in trainer.state.log_history for key in entry}


def test_components_run_in_the_documented_order_whatever_the_listed_order(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        tokenizer, prompt_dataset, tmp_path, methods=["paec", "position", "entropy_advantage", "clip_cov", "ppl"]
    )
    # shapers in order, then the loss term, then the observer position shaping brings (the stage detector)
    names = [component.name for component in trainer.components]
    assert names == ["ppl", "entropy_advantage", "position", "clip_cov", "paec", "stages"]
    assert [shaper.name for shaper in trainer.advantage_shapers] == [
        "ppl",
        "entropy_advantage",
        "position",
        "clip_cov",
    ]
    assert list(COMPONENTS) == [
        "ppl",
        "entropy_advantage",
        "position",
        "clip_cov",
        "paec",
        "sent_kl",
        "kl_cov",
        "stages",
    ]
    assert trainer.method_hyperparameters()["methods"] == names[:-1]  # the listed ones, in their order


def test_a_plain_grpo_config_is_plain_grpo(tokenizer, prompt_dataset, tmp_path):
    model, _ = load_tiny_policy()
    trainer = ComposedGRPOTrainer(
        model, countdown_reward, args=GRPOConfig(**cpu_grpo_kwargs(tmp_path)), train_dataset=prompt_dataset,
        processing_class=tokenizer,
    )  # fmt: skip
    assert trainer.components == [] and trainer.shape_advantages(torch.zeros(2), None, None, None, {}) is None
    # and the config's own default (no methods) too, with TRL's batch layout
    assert ComposedGRPOConfig(**cpu_grpo_kwargs(tmp_path)).steps_per_generation == 1


def test_shapers_equal_the_functions_chained_by_hand(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        tokenizer, prompt_dataset, tmp_path, methods=["position", "ppl", "entropy_advantage"],
        position_schedule="always", num_iterations=2, ppl_alpha=0.5, entropy_advantage_alpha=0.3,
    )  # fmt: skip
    inputs = first_batch(trainer)
    mask = inputs["completion_mask"].float()
    entropies = torch.rand(mask.shape) * 2
    trainer._loss_pass = LossPass(inputs={})
    out = trainer.shape_advantages(inputs["advantages"], None, entropies, mask, inputs)
    trainer._loss_pass = None
    by_hand = inputs["advantages"] * inputs[WEIGHTS_KEY]
    by_hand = entropy_advantage(by_hand, entropies, alpha=0.3, kappa=2.0)
    by_hand = position_shaped_advantages(by_hand, mask)
    torch.testing.assert_close(out, by_hand)


def test_a_loss_term_after_a_shaper_equals_the_two_methods_one_after_the_other(tokenizer, prompt_dataset, tmp_path):
    # KL-Cov after the entropy advantage: the covariance it ranks is that of the shaped advantages (those the loss
    # uses), the penalty the same function as KL-Cov alone on those advantages.
    kwargs = dict(steps_per_generation=2, kl_cov_ratio=0.05, kl_cov_coef=1.0)
    composed = make(tokenizer, prompt_dataset, tmp_path, methods=["kl_cov", "entropy_advantage"], **kwargs)
    inputs = first_batch(composed)
    mask = inputs["completion_mask"].float()
    logps = torch.randn(mask.shape, requires_grad=True)
    entropies = torch.rand(mask.shape)
    old = logps.detach() + 0.1 * torch.randn(mask.shape)
    batch = {**inputs, "old_per_token_logps": old}
    composed._loss_pass = LossPass(inputs={})
    batch["advantages"] = composed.shape_advantages(inputs["advantages"], logps.detach(), entropies, mask, batch)
    term = composed.extra_loss(logps, entropies, mask, batch)
    composed._loss_pass = None
    shaped = entropy_advantage(inputs["advantages"], entropies, alpha=0.4, kappa=2.0)
    selected = kl_cov_selection(token_covariance(shaped, logps.detach(), mask), mask, 0.05)
    by_hand = (kl_cov_penalty(logps, old, selected, 1.0) * mask).sum() / mask.sum()
    torch.testing.assert_close(term, by_hand)
    # and KL-Cov's own trainer, given those advantages, computes the same term
    alone = make(tokenizer, prompt_dataset, tmp_path, KLCovGRPOTrainer, KLCovGRPOConfig, **kwargs)
    alone._loss_pass = LossPass(inputs={})
    torch.testing.assert_close(alone.extra_loss(logps, entropies, mask, batch), by_hand)
    alone._loss_pass = None


def test_every_shaper_plus_paec_trains_with_each_components_metrics_and_card(tokenizer, prompt_dataset, tmp_path):
    trainer = make(
        tokenizer, prompt_dataset, tmp_path, methods=["ppl", "entropy_advantage", "position", "paec"],
        position_schedule="always", max_steps=3, paec_anchor_steps=1, paec_rho_min=2.0, save_strategy="no",
    )  # fmt: skip
    trainer.train()
    keys = logged_keys(trainer)
    assert {
        "entropy/ppl_weight_mean", "entropy/advantage_psi_mean", "entropy/position_bonus_mean",
        "entropy/paec_masked_entropy", "entropy/paec_penalty", "entropy/stage",
    } <= keys  # fmt: skip
    penalties = [e["entropy/paec_penalty"] for e in trainer.state.log_history if "entropy/paec_penalty" in e]
    assert penalties[0] == 0 and penalties[-1] > 0  # the floor acts once the anchor is frozen
    trainer.save_model()
    card = (tmp_path / "README.md").read_text()
    for paper in ("2506.14758", "2508.02260", "2606.08543"):
        assert paper in card
    for name in ("methods", "ppl_alpha", "entropy_advantage_alpha", "position_gamma", "paec_rho", "paec_beta"):
        assert f"`{name}`" in card
    assert "**GRPO + ppl + entropy_advantage + position + paec**" in card
    assert card.count("Method paper") == 1 and "Method papers: [Decomposing the Entropy-Performance" in card


def test_paec_in_a_composition_is_paec_alone(tokenizer, prompt_dataset, tmp_path):
    # Same weights, batch and anchor: the composed trainer's loss term is PAEC's own.
    kwargs = dict(paec_rho_min=2.0)
    composed = make(tokenizer, prompt_dataset, tmp_path, methods=["entropy_advantage", "paec"], **kwargs)
    alone = make(tokenizer, prompt_dataset, tmp_path, PAECGRPOTrainer, PAECGRPOConfig, **kwargs)
    alone.model.load_state_dict(composed.model.state_dict())
    inputs = first_batch(composed)
    losses = []
    for trainer in (composed, alone):
        trainer.get_component("paec").anchor.value = 2.0
        trainer.model.eval()  # no dropout, no anchor collection: the same forward twice
        with trainer._open_loss_pass(inputs, trainer.model) as loss_pass:
            trainer._get_per_token_logps_and_entropies(
                trainer.model,
                torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1),
                torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1),
                inputs["completion_ids"].size(1),
                compute_entropy=True,
            )
            paec = trainer.get_component("paec")
            losses.append(
                paec.loss(
                    trainer.context(paec), loss_pass.per_token_logps, loss_pass.entropies, loss_pass.mask, inputs
                )
            )
    assert losses[0] > 0
    torch.testing.assert_close(losses[0], losses[1])


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        (["clip_cov", "kl_cov"], r"'clip_cov' and 'kl_cov' cannot run together: they are the two alternative"),
        (["kl_cov", "sent_kl"], r"'sent_kl' and 'kl_cov' cannot run together: both put \|log p - log p_old\|"),
    ],
)
def test_incompatible_pairs_are_refused_naming_both(tokenizer, prompt_dataset, tmp_path, methods, message):
    with pytest.raises(ValueError, match=message):
        make(tokenizer, prompt_dataset, tmp_path, methods=methods, steps_per_generation=2)


def test_a_kl_to_old_term_in_an_on_policy_run_is_refused_naming_the_method(tokenizer, prompt_dataset, tmp_path):
    with pytest.raises(ValueError, match=r"KL-Cov's penalty \(`kl_cov`\) is \|log p - log p_old\|"):
        make(tokenizer, prompt_dataset, tmp_path, methods=["entropy_advantage", "kl_cov"], steps_per_generation=1)
    # left unset, the composed config picks the off-policy layout such a term needs
    config = ComposedGRPOConfig(**cpu_grpo_kwargs(tmp_path), methods=["kl_cov"])
    assert config.steps_per_generation == 2 * config.gradient_accumulation_steps


@pytest.mark.parametrize(
    ("methods", "message"), [(["ppl", "ppl"], "distinct"), (["magic"], "magic"), ("ppl", "a list")]
)
def test_invalid_methods(tmp_path, methods, message):
    with pytest.raises(ValueError, match=f"`methods` must be .*{message}|{message}"):
        ComposedGRPOConfig(**cpu_grpo_kwargs(tmp_path), methods=methods)


def test_two_components_may_not_log_the_same_metric(tokenizer, prompt_dataset, tmp_path):
    class Bonus(Component):
        order = SHAPER_ORDER + 50

        def shape(self, ctx, advantages, per_token_logps, entropies, mask, inputs):
            ctx.log_metric("bonus", 0.0, 1.0)
            return advantages

    class First(Bonus):
        name = "first"

    class Second(Bonus):
        name = "second"

    class Trainer(EntropyGRPOTrainer):
        component_classes = (First, Second)

    model, _ = load_tiny_policy()
    trainer = Trainer(model, countdown_reward, args=GRPOConfig(**cpu_grpo_kwargs(tmp_path)),
                      train_dataset=prompt_dataset, processing_class=tokenizer)  # fmt: skip
    inputs = first_batch(trainer)
    with pytest.raises(RuntimeError, match="'first' and 'second' both log the metric 'entropy/bonus'"):
        trainer.compute_loss(trainer.model, inputs)


def test_requirements_are_added_once_and_duplicates_refused(tmp_path):
    args = ComposedGRPOConfig(**cpu_grpo_kwargs(tmp_path))
    position, stages = COMPONENTS["position"](args), COMPONENTS["stages"](args)
    assert [c.name for c in resolve_components([position], args)] == ["position", "stages"]
    assert resolve_components([stages, position], args)[1] is stages  # the listed one is kept
    with pytest.raises(ValueError, match="'ppl' is listed twice"):
        resolve_components([COMPONENTS["ppl"](args), COMPONENTS["ppl"](args)], args)


def test_a_composed_recipe_selects_the_composed_trainer():
    from trl_entropy.scripts.train import parse_args

    script_args, training_args, _ = parse_args(["--config", "recipes/tiny/composed.yaml"])
    assert script_args.method == "composed" and isinstance(training_args, ComposedGRPOConfig)
    assert training_args.methods == ["ppl", "entropy_advantage", "position", "paec"]


def test_callbacks_added_later_bring_their_components(tokenizer, prompt_dataset, tmp_path):
    from trl_entropy import EntropyAnalysisCallback, TokenEntropyRecorder

    first = TokenEntropyRecorder(every_n_steps=1)
    trainer = make(tokenizer, prompt_dataset, tmp_path, methods=["entropy_advantage"], callbacks=[first])
    second = TokenEntropyRecorder(every_n_steps=1, path=str(tmp_path / "second.jsonl"))
    trainer.add_callback(second)  # a second recorder runs beside the first
    recorders = [c for c in trainer.components if c.name.startswith("token_entropy_recorder")]
    assert [c.recorder for c in recorders] == [first, second]
    assert trainer.stage_detector is None
    trainer.add_callback(EntropyAnalysisCallback(every_n_steps=1))  # brings the stage detector it labels records with
    assert [c.name for c in trainer.components][-3:] == ["token_entropy_recorder#2", "analysis", "stages"]
    assert trainer.stage_detector in trainer.callback_handler.callbacks

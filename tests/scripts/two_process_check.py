# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Run by tests/test_distributed.py under `accelerate launch --multi_gpu --num_processes 2` (gloo on the CPU).

1. Method metrics are exact means over both processes even when the processes count different numbers of items.
2. The main job's script trains a few steps of entropy-advantage GRPO on two processes and logs the method metrics.
3. PPL group statistics span a group split across the two processes, at generation time and in the loss pass.
4. PPL-shaping GRPO trains on two processes with every group split in half.
5. PAEC's soft-mask quantile is taken over the valid positions of both processes; in the `step` scope the masks and
   `Hbar` span all micro-batches of the step on both processes, with the penalty's gradient of the step's `Hbar`;
   PAEC trains on two processes with two micro-batches per step and the same anchor on both.
6. SENT's global selection equals the selection over both processes' tokens together, and SENT trains on two
   processes on a curriculum scored on both, receiving the prompts in curriculum order.
7. PPO + entropy advantage trains on two processes: the critic (DDP) and the policy stay identical on both, the
   critic trains, and the advantages are whitened over both processes' tokens; and PPO with a LoRA policy and a LoRA
   critic sharing its frozen backbone trains on two processes too.
8. The entropy analysis callback of the main job reduces its sums over both processes.
9. Clip-Cov and KL-Cov with `global` scope train on two processes, and their selection over the micro-batches of a
   step on both processes equals the per-set functions on one hand-padded batch that stacks them all.
"""

import json
import os
import sys

import torch


def pytest_approx(values):
    import pytest

    return pytest.approx(values, rel=1e-6)


def check_metric_reduction(trainer) -> None:
    from trl_entropy.entropy_grpo_trainer import _LossPass

    rank = trainer.accelerator.process_index
    # rank 0 counts 1 item of value 1.0; rank 1 counts 3 items of value 5.0 each. Exact mean: (1 + 15) / 4 = 4.0
    # (the mean of the two per-process means would be 3.0).
    loss_pass = _LossPass(inputs={})
    trainer._loss_pass = loss_pass
    if rank == 0:
        trainer.log_metric("two_process_mean", 1.0, 1.0)
    else:
        trainer.log_metric("two_process_mean", 15.0, 3.0)
    trainer._loss_pass = None
    trainer.model.train()
    trainer._flush_method_metrics(loss_pass)
    value = trainer._metrics["train"]["entropy/two_process_mean"][-1]
    assert abs(value - 4.0) < 1e-6, value


def check_ppl_group_split_across_processes(trainer) -> None:
    from trl_entropy.functional import ppl_advantage_weights
    from trl_entropy.ppl_shaping.trainer import INDEX_KEY, WEIGHTS_KEY, PPLShaper

    rank = trainer.accelerator.process_index
    # One group of 8 completions: rows 0-3 on process 0, rows 4-7 on process 1 (TRL's layout).
    generator = torch.Generator().manual_seed(0)
    all_logps = -3 * torch.rand(8, 5, generator=generator)
    all_mask = torch.ones(8, 5)
    all_mask[2, 3:] = 0
    all_mask[6, 1:] = 0
    expected_all = ppl_advantage_weights(all_logps, all_mask, 8, alpha=0.5)
    rows = slice(4 * rank, 4 * rank + 4)
    logps, mask, expected = all_logps[rows], all_mask[rows], expected_all[rows]
    # The weights of the group differ from what either half alone would give.
    assert not torch.allclose(expected, ppl_advantage_weights(logps, mask, 4, alpha=0.5))

    from trl_entropy.hook import ComponentContext

    shaper = PPLShaper(type("Args", (), {"ppl_alpha": 0.5})())
    ctx = ComponentContext(trainer, shaper)  # the context of this trainer, for a shaper it does not run
    num_generations = trainer.num_generations
    trainer.num_generations = 8
    try:
        batch = {"completion_mask": mask, "completion_ids": torch.zeros(4, 5), "old_per_token_logps": logps}
        trainer.model.train()
        shaper.on_generation(ctx, batch, [])
        torch.testing.assert_close(batch[WEIGHTS_KEY], expected)
        # The loss-pass path, on rows that TRL shuffled.
        permutation = torch.tensor([2, 0, 3, 1])
        inputs = {INDEX_KEY: (4 * rank + torch.arange(4))[permutation]}
        weights, _ = shaper._weights_in_loss_pass(ctx, logps[permutation], mask[permutation], inputs)
        torch.testing.assert_close(weights, expected[permutation])
    finally:
        trainer.num_generations = num_generations


def train_ppl_with_split_groups(output_dir: str) -> None:
    from trl_entropy.scripts.train import main as train_main

    trainer = train_main(
        ["--config", "recipes/tiny/ppl.yaml", "--output_dir", output_dir, "--max_steps", "2", "--logging_steps", "1",
         "--per_device_train_batch_size", "4", "--num_generations", "8", "--task_eval_problems", "0",
         "--disable_tqdm", "true"]
    )  # fmt: skip
    weights = [e["entropy/ppl_weight_mean"] for e in trainer.state.log_history if "entropy/ppl_weight_mean" in e]
    assert len(weights) == 2


def check_paec_step_window(trainer) -> None:
    """PAEC's `step` scope on two processes x two micro-batches of different shapes: the soft masks come from one
    quantile over all four, `Hbar` is over all four, and the terms of the four passes, divided by the accumulation
    steps and averaged over the processes as DDP does, have the gradient of the penalty on `Hbar`."""
    from trl_entropy.functional import paec_penalty, soft_mask
    from trl_entropy.paec.trainer import ScoredPart

    rank = trainer.accelerator.process_index
    generator = torch.Generator().manual_seed(11)
    everything = []
    for shape in [(2, 3), (3, 3), (2, 5), (1, 5)]:  # process 0 holds the first two micro-batches, process 1 the rest
        mask = (torch.rand(shape, generator=generator) > 0.2).float()
        mask[:, 0] = 1.0
        scores = torch.rand(shape, generator=generator) * mask
        everything.append((scores, 2 * torch.rand(shape, generator=generator), mask))
    local = everything[2 * rank : 2 * rank + 2]
    parts = [ScoredPart(s, h, m, torch.ones_like(s), torch.zeros_like(s), m.bool()) for s, h, m in local]
    paec = trainer.get_component("paec")
    window = paec._paec_window(trainer.context(paec), parts, across_processes=True)

    rho, temperature = trainer.paec["paec_rho"], trainer.paec["paec_mask_temperature"]
    reference = torch.cat([s[m.bool()] for s, _, m in everything])
    weights = [soft_mask(s, m, reference, rho=rho, temperature=temperature) for s, _, m in everything]
    for part, expected in zip(window.parts, weights[2 * rank : 2 * rank + 2], strict=True):
        torch.testing.assert_close(part.weights, expected)
    # Meaningful: a quantile over this process's micro-batches alone gives other masks.
    own = torch.cat([s[m.bool()] for s, _, m in local])
    alone = [soft_mask(s, m, own, rho=rho, temperature=temperature) for s, _, m in local]
    assert any((a - b).abs().max() > 1e-2 for a, b in zip(alone, weights[2 * rank : 2 * rank + 2], strict=True))
    total = sum((w * h).sum() for w, (_, h, _) in zip(weights, everything, strict=True))
    weight = sum(w.sum() for w in weights)
    torch.testing.assert_close(window.total, total)
    torch.testing.assert_close(window.weight, weight)

    leaves = [h.clone().requires_grad_() for _, h, _ in everything]
    hbar = sum((w * h).sum() for w, h in zip(weights, leaves, strict=True)) / weight
    floor, beta, accumulation, processes = 2.0, 1.5, 2, 2
    whole = beta * torch.clamp(floor - hbar, min=0) ** 2
    mine = leaves[2 * rank : 2 * rank + 2]
    expected = torch.autograd.grad(whole, mine)
    terms = [
        paec_penalty(h, part.weights, m, floor, beta, step_total=window.total, step_weight=window.weight,
                     num_parts=accumulation * processes)
        for h, part, (_, _, m) in zip(mine, window.parts, local, strict=True)
    ]  # fmt: skip
    assert all(abs(term.item() - whole.item()) < 1e-6 for term in terms), (terms, whole)
    # each pass's term / accumulation steps, summed over the passes; DDP then averages over the processes
    got = torch.autograd.grad(sum(terms) / accumulation / processes, mine)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


def train_paec_and_check_global_quantile(output_dir: str) -> None:
    from trl_entropy.functional import soft_mask
    from trl_entropy.scripts.train import main as train_main

    trainer = train_main(
        ["--config", "recipes/tiny/paec.yaml", "--output_dir", output_dir, "--max_steps", "3", "--logging_steps", "1",
         "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "2", "--paec_anchor_steps", "1",
         "--paec_rho_min", "2.0", "--task_eval_problems", "0", "--disable_tqdm", "true"]
    )  # fmt: skip
    assert trainer.paec["paec_scope"] == "step"
    check_paec_step_window(trainer)
    rank = trainer.accelerator.process_index
    # Process 0 holds 10 scores 0.01 ... 0.10, process 1 holds 30 scores 0.11 ... 0.40 (different counts: padding).
    all_scores = torch.arange(1, 41, dtype=torch.float32) / 100
    local = all_scores[:10] if rank == 0 else all_scores[10:]
    paec = trainer.get_component("paec")
    reference = trainer.context(paec).gather_variable_length(local.float())[0]
    torch.testing.assert_close(reference.sort().values, all_scores)
    hard = soft_mask(local[None], torch.ones(1, local.numel()), reference, rho=0.8, temperature=0.0)
    # the top 20% of the 40 positions, 0.33 ... 0.40, are all on process 1; a per-process quantile would keep 2 + 6
    assert hard.sum().item() == (0 if rank == 0 else 8), hard
    # Every process holds the same anchor (collected from both), and the penalty acted after it.
    anchors = trainer.accelerator.gather(torch.tensor([trainer.paec_anchor.value]))
    assert anchors[0] == anchors[1], anchors
    history = [e for e in trainer.state.log_history if "entropy/paec_penalty_active" in e]
    assert [e["entropy/paec_penalty_active"] for e in history] == [0.0, 1.0, 1.0], history
    assert all(0.05 < e["entropy/paec_mask_share"] < 0.35 for e in history), history


def check_sent_global_selection(trainer) -> None:
    from trl_entropy.functional import low_entropy_cov_selection

    rank = trainer.accelerator.process_index
    # Process 0 holds 3 completions of 5 tokens, process 1 holds 2 of 7 (different lengths: padding on both axes).
    generator = torch.Generator().manual_seed(3)
    shapes = [(3, 5), (2, 7)]
    parts = [
        (
            torch.rand(shape, generator=generator),
            -torch.rand(shape, generator=generator),
            torch.randn(shape[0], generator=generator),
        )
        for shape in shapes
    ]
    masks = [torch.ones(shape) for shape in shapes]
    masks[0][2, 4:] = 0  # 14 valid tokens on process 0
    masks[1][1, 4:] = 0  # 11 on process 1
    local_entropies, local_logps, local_advantages = parts[rank]
    sent_kl = trainer.get_component("sent_kl")
    selection = sent_kl._selection(
        trainer.context(sent_kl), local_entropies, local_logps, local_advantages, masks[rank]
    )

    # By hand: both processes' tokens in one padded batch.
    padded = torch.zeros(5, 7), torch.zeros(5, 7), torch.zeros(5, 7), torch.zeros(5, 7)
    for (entropies, logps, advantages), mask, rows in zip(parts, masks, (slice(0, 3), slice(3, 5)), strict=True):
        length = entropies.size(1)
        padded[0][rows, :length], padded[1][rows, :length] = entropies, logps
        padded[2][rows, :length], padded[3][rows, :length] = advantages[:, None].expand(-1, length), mask
    expected = low_entropy_cov_selection(
        *padded, trainer.sent["sent_low_entropy_share"], trainer.sent["sent_cov_ratio"]
    )
    rows = slice(0, 3) if rank == 0 else slice(3, 5)
    for got, want in zip(selection, expected, strict=True):
        assert torch.equal(got, want[rows, : shapes[rank][1]]), (rank, got, want)
    # Together the processes hold floor(0.8 * 25) = 20 low-entropy tokens; per process it would be 11 + 8.
    total = trainer.accelerator.reduce(selection.low_entropy.sum(), reduction="sum").item()
    assert total == 20, total


def train_sent_on_a_curriculum(output_dir: str) -> None:
    from trl_entropy.scripts.train import main as train_main

    trainer = train_main(
        ["--config", "recipes/tiny/sent_stage1.yaml", "--output_dir", output_dir, "--task_train_size", "64",
         "--curriculum_order", "ascending", "--curriculum_cache_dir", output_dir + "-cache", "--max_steps", "4",
         "--per_device_train_batch_size", "16", "--logging_steps", "1", "--sent_cov_scope", "global",
         "--sent_cov_ratio", "0.05", "--task_eval_problems", "0", "--disable_tqdm", "true"]
    )  # fmt: skip
    check_sent_global_selection(trainer)
    # Stage 1 of the ascending ranking: 32 prompts; 4 per optimizer step (16 completions per process), 8 per
    # generation batch. The mean score logged for each generation batch is that of the next 8 prompts in order.
    scores = trainer.train_dataset["semantic_entropy"][:]
    assert scores == sorted(scores)
    history = [e for e in trainer.state.log_history if "entropy/curriculum_semantic_entropy" in e]
    logged = [e["entropy/curriculum_semantic_entropy"] for e in history]
    expected = [sum(scores[8 * i : 8 * i + 8]) / 8 for i in range(2)]
    assert all(abs(a - b) < 1e-5 for a, b in zip(logged, expected, strict=True)), (logged, expected)
    penalties = [e["entropy/sent_kl_penalty"] for e in trainer.state.log_history if "entropy/sent_kl_penalty" in e]
    assert len(penalties) == 4 and penalties[1] > 1e-6 and penalties[3] > 1e-6, penalties


def train_ppo_on_two_processes(output_dir: str) -> None:
    from trl_entropy.functional.ppo import masked_mean_var
    from trl_entropy.scripts.train import main as train_main
    from trl_entropy.tasks import load_tiny_policy

    trainer = train_main(
        ["--config", "recipes/tiny/entropy_advantage_ppo.yaml", "--output_dir", output_dir, "--max_steps", "3",
         "--logging_steps", "1", "--per_device_train_batch_size", "8", "--ppo_critic_warmup_steps", "1",
         "--task_eval_problems", "0", "--disable_tqdm", "true"]
    )  # fmt: skip
    accelerator = trainer.accelerator
    critic = accelerator.unwrap_model(trainer.critic)
    fresh = load_tiny_policy()[0]
    # The critic's backbone trained (it starts as the policy's), and both models are the same on both processes.
    assert not torch.equal(critic.backbone.embed_tokens.weight, fresh.model.embed_tokens.weight.to(accelerator.device))
    assert_same_on_every_process(accelerator, critic, accelerator.unwrap_model(trainer.model))
    history = [e for e in trainer.state.log_history if "ppo/value_loss" in e]
    assert [e["ppo/critic_warmup"] for e in history] == [1.0, 0.0, 0.0], history
    # Whitening over both processes: the advantages of one generation batch have mean 0 and variance 1 over the
    # valid tokens of both processes together, not on each.
    trainer.model.train()
    batch = trainer._generate_and_score_completions(
        [{"prompt": row["prompt"], "numbers": row["numbers"], "target": row["target"]}
         for row in trainer.train_dataset.select(range(8 * accelerator.process_index, 8 * accelerator.process_index + 8))]
    )  # fmt: skip
    mask = batch["completion_mask"].float()
    local = torch.stack([(batch["advantages"] * mask).sum(), (batch["advantages"] ** 2 * mask).sum(), mask.sum()])
    total, squares, count = accelerator.reduce(local.double(), reduction="sum").tolist()
    assert abs(total / count) < 1e-4 and abs((squares - total**2 / count) / (count - 1) - 1) < 1e-3
    local_mean, _ = masked_mean_var(batch["advantages"], mask)
    assert abs(local_mean.item()) > 1e-3  # each process alone is not centred


def hand_padded_step(rank: int):
    """Two processes x two micro-batches of different widths (3 on process 0, 5 on process 1) with padding: this
    process's micro-batches and the hand-padded batch stacking all four in process order (the same on both)."""
    generator = torch.Generator().manual_seed(7)
    widths, rows = (3, 5), (2, 3)
    everything = []
    for width in widths:
        for num_rows in rows:
            logps = -3 * torch.rand(num_rows, width, generator=generator)
            mask = (torch.rand(num_rows, width, generator=generator) > 0.2).float()
            mask[:, 0] = 1.0
            advantages = torch.randn(num_rows, generator=generator)
            everything.append((logps, mask, advantages))
    local = everything[2 * rank : 2 * rank + 2]

    def pad(tensor):
        return torch.nn.functional.pad(tensor, (0, max(widths) - tensor.size(1)))

    logps, mask = (torch.cat([pad(item[i]) for item in everything]) for i in range(2))
    advantages = torch.cat([item[2] for item in everything])
    return local, (logps, mask, advantages)


def check_global_covariance_window(trainer, select) -> None:
    """`build_step_window` on this process's two micro-batches against `select` on the hand-padded batch of both."""
    from trl_entropy.functional import token_covariance

    rank = trainer.accelerator.process_index
    local, (logps, mask, advantages) = hand_padded_step(rank)
    batches = [
        {"prompt_ids": torch.zeros(m.size(0), 1, dtype=torch.long), "prompt_mask": torch.ones(m.size(0), 1),
         "completion_ids": torch.zeros(m.shape, dtype=torch.long), "completion_mask": m, "advantages": a}
        for _, m, a in local
    ]  # fmt: skip
    forwards = iter([item[0] for item in local])
    original = trainer._get_per_token_logps_and_entropies
    trainer._get_per_token_logps_and_entropies = lambda *args, **kwargs: (next(forwards), None, None)
    component = trainer.advantage_shapers[0] if trainer.advantage_shapers else trainer.get_component("kl_cov")
    try:
        entries = component.build_step_window(trainer.context(component), batches)
    finally:
        trainer._get_per_token_logps_and_entropies = original
    covariances, selections = [entry[0] for entry in entries], [entry[1] for entry in entries]
    cov = token_covariance(advantages, logps, mask)
    expected = select(cov, mask)
    first_row = 0 if rank == 0 else 5
    for index, (_, m, _) in enumerate(local):
        part = slice(first_row, first_row + m.size(0))
        first_row = part.stop
        torch.testing.assert_close(covariances[index], cov[part, : m.size(1)])
        assert torch.equal(selections[index], expected[part, : m.size(1)]), (index, selections, expected)
    # Meaningful: the step's selection differs from selecting on each micro-batch alone.
    alone = [select(token_covariance(a, lp, m), m) for lp, m, a in local]
    differs = torch.tensor([float(any(not torch.equal(x, y) for x, y in zip(alone, selections, strict=True)))])
    assert trainer.accelerator.reduce(differs, reduction="sum").item() > 0


def train_composed_methods(output_dir: str) -> None:
    """Every shaper plus PAEC in one composed run on two processes with accumulation: each component logs, PAEC's
    anchor is the same on both processes and its penalty acts once the anchor is frozen."""
    from trl_entropy import ComposedGRPOTrainer
    from trl_entropy.scripts.train import main as train_main

    trainer = train_main(
        ["--config", "recipes/tiny/composed.yaml", "--output_dir", output_dir, "--max_steps", "2", "--logging_steps",
         "1", "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "2", "--paec_anchor_steps", "1",
         "--paec_rho_min", "2.0", "--position_schedule", "always", "--task_eval_problems", "0", "--disable_tqdm",
         "true"]
    )  # fmt: skip
    assert isinstance(trainer, ComposedGRPOTrainer)
    assert [c.name for c in trainer.components] == ["ppl", "entropy_advantage", "position", "paec", "stages"]
    anchors = trainer.accelerator.gather(torch.tensor([trainer.get_component("paec").anchor.value]))
    assert anchors[0] == anchors[1], anchors
    history = [e for e in trainer.state.log_history if "entropy/paec_penalty_active" in e]
    assert [e["entropy/paec_penalty_active"] for e in history] == [0.0, 1.0], history
    for key in ("entropy/ppl_weight_mean", "entropy/advantage_psi_mean", "entropy/position_bonus_mean"):
        assert all(key in entry for entry in history), (key, history)


def train_covariance_methods_with_global_scope(output_dir: str) -> None:
    from trl_entropy.functional import clip_cov_selection, kl_cov_selection
    from trl_entropy.scripts.train import main as train_main

    common = ["--max_steps", "2", "--logging_steps", "1", "--per_device_train_batch_size", "8",
              "--gradient_accumulation_steps", "2", "--task_eval_problems", "0", "--disable_tqdm", "true"]  # fmt: skip
    clip = train_main(
        ["--config", "recipes/tiny/clip_cov.yaml", "--output_dir", output_dir + "-clip", "--clip_cov_scope", "global",
         "--clip_cov_lb", "0.0", "--clip_cov_ratio", "0.05", *common]
    )  # fmt: skip
    shares = [e["entropy/clip_cov_selected_share"] for e in clip.state.log_history if "entropy/clip_cov_cov_mean" in e]
    assert len(shares) == 2 and all(0 <= share <= 0.05 for share in shares), shares
    shaper = clip.advantage_shapers[0]
    shaper.ratio, shaper.lower, shaper.upper = 0.3, -10.0, 10.0
    state = shaper.random_generator(clip).get_state()

    def clip_select(cov, mask):
        replay = torch.Generator()
        replay.set_state(state)
        return clip_cov_selection(cov, mask, 0.3, -10.0, 10.0, generator=replay)

    check_global_covariance_window(clip, clip_select)
    kl = train_main(
        ["--config", "recipes/tiny/kl_cov.yaml", "--output_dir", output_dir + "-kl", "--kl_cov_scope", "global",
         "--kl_cov_ratio", "0.2", "--steps_per_generation", "4", *common]
    )  # fmt: skip
    penalties = [e["entropy/kl_cov_penalty"] for e in kl.state.log_history if "entropy/kl_cov_penalty" in e]
    assert len(penalties) == 2 and penalties[0] < 1e-6 < penalties[1], penalties
    check_global_covariance_window(kl, lambda cov, mask: kl_cov_selection(cov, mask, 0.2))


def assert_same_on_every_process(accelerator, *models) -> None:
    for model in models:
        checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
        gathered = accelerator.gather(checksum)
        assert torch.allclose(gathered[0], gathered[1]), gathered


def train_ppo_with_a_shared_backbone(output_dir: str) -> None:
    from trl_entropy.scripts.train import main as train_main

    trainer = train_main(
        ["--config", "recipes/tiny/ppo.yaml", "--output_dir", output_dir, "--max_steps", "3", "--logging_steps", "1",
         "--per_device_train_batch_size", "8", "--ppo_critic_warmup_steps", "1", "--use_peft", "true", "--lora_r", "4",
         "--lora_alpha", "8", "--lora_target_modules", "all-linear", "--ppo_critic_lora_r", "4",
         "--ppo_critic_share_backbone", "true", "--learning_rate", "1e-3", "--task_eval_problems", "0",
         "--disable_tqdm", "true"]
    )  # fmt: skip
    accelerator = trainer.accelerator
    critic, policy = accelerator.unwrap_model(trainer.critic), accelerator.unwrap_model(trainer.model)
    policy_storage = {p.data_ptr() for p in policy.parameters()}
    assert all(
        p.data_ptr() in policy_storage for n, p in critic.named_parameters() if "layers" in n and "lora" not in n
    )
    assert_same_on_every_process(accelerator, critic, policy)
    assert len([e for e in trainer.state.log_history if "ppo/value_loss" in e]) == 3


def main(output_dir: str) -> None:
    from trl_entropy.scripts.train import main as train_main

    torch.set_num_threads(1)
    trainer = train_main(
        [
            "--config",
            "recipes/tiny/entropy_advantage.yaml",
            "--output_dir",
            output_dir,
            "--max_steps",
            "3",
            "--logging_steps",
            "1",
            "--per_device_train_batch_size",
            "32",
            "--task_eval_problems",
            "0",
            "--disable_tqdm",
            "true",
            "--analysis_every_n_steps",
            "1",
        ]
    )
    assert trainer.accelerator.num_processes == 2, f"expected 2 processes, got {trainer.accelerator.num_processes}"
    check_metric_reduction(trainer)
    check_ppl_group_split_across_processes(trainer)
    train_ppl_with_split_groups(output_dir + "-ppl")
    train_paec_and_check_global_quantile(output_dir + "-paec")
    train_sent_on_a_curriculum(output_dir + "-sent")
    train_ppo_on_two_processes(output_dir + "-ppo")
    train_ppo_with_a_shared_backbone(output_dir + "-ppo-shared")
    train_covariance_methods_with_global_scope(output_dir + "-cov")
    train_composed_methods(output_dir + "-composed")
    if trainer.accelerator.is_main_process:
        with open(os.path.join(output_dir, "trainer_state.json")) as f:
            history = json.load(f)["log_history"]
        logged = [entry for entry in history if "entropy/advantage_psi_mean" in entry]
        assert len(logged) == 3, history
        assert trainer.args.world_size == 2
        # 8. The analysis callback's sums are reduced over both processes: 2 x 32 completions per step.
        from trl_entropy.analysis import load_analysis_records

        records = load_analysis_records(output_dir)
        assert [record["step"] for record in records] == [1, 2, 3], records
        assert all(record["sums"]["quality/any_issue"][1] == 64 for record in records), records
        assert [e["analysis/entropy"] for e in history if "analysis/entropy" in e] == pytest_approx(
            [record["metrics"]["entropy"] for record in records]
        )
        print("TWO_PROCESS_CHECK_OK")
    # Tear the gloo group down before the interpreter exits: left to process exit, its threads can be destroyed while
    # still joinable, and the process aborts ("terminate called without an active exception") after a passing run.
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])

# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""A prepared one-command check of trl-entropy on a GPU, offline: `benchmarks/gpu_check.sh` runs it.

    python benchmarks/gpu_check.py                          # on a GPU: Qwen2.5-Math-1.5B's architecture, bf16
    python benchmarks/gpu_check.py --tiny --device cpu      # the same parts on a tiny model, fp32 (the CPU test)

The policy is a random-init Qwen2 built from a config written here (no download): by default the architecture of
Qwen2.5-Math-1.5B (hidden 1536, 28 layers, 12 heads, 2 KV heads, intermediate 8960, vocabulary 151,936, tied
embeddings), its logits scaled through the final norm's weight (as `shaping_overhead.py` does) so that token entropy
is near a trained model's instead of nearly uniform: the scale is found by bisection so that the mean next-token
entropy on random prompts is `--target-entropy` (0.6 nat), or given with `--logit-scale`. Parts, each with its own time limit (the
script skips what would overrun its `--budget` rather than run past it):

1. `env`: device, versions.
2. `fused_head`: TRL's fused LM head (`add_fused_lm_head`, the Triton kernel on CUDA) against full float32 logits:
   log-probs, entropies and the gradient of the entropies.
3. `paec_tiles`: PAEC's tiled `decision_statistics` against `nucleus_statistics` on the full logits.
4. `methods`: TRL's `GRPOTrainer`, `EntropyGRPOTrainer` and every registered method (`trl_entropy.methods.METHODS`,
   the composed `ShapingGRPOTrainer`, PPO and SENT included), a few steps each in this process: finite loss, the
   method's metrics, median step time (TRL's `step_time`) and peak memory (`torch.cuda.max_memory_allocated`, peak
   RSS on a CPU) as ratios against `GRPOTrainer`.
5. `fsdp`: PAEC for a few steps under FSDP2 with one process (`accelerate launch --config_file
   recipes/accelerate_configs/fsdp2.yaml --num_processes 1`), a checkpoint written, its weights reloaded and compared,
   and training resumed from it. On a CPU, accelerate cannot run FSDP: the same steps run as a plain process.

Everything printed is also written as one JSON, `gpu_check.json`, into `--out` (default `$OUT`, else
`./gpu_check_out`), rewritten after each part so that a run stopped from outside keeps what it had.
"""

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FSDP_CONFIG = os.path.join(REPO, "recipes", "accelerate_configs", "fsdp2.yaml")

# Qwen2.5-Math-1.5B's config.json (architecture fields only).
QWEN25_MATH_15B = dict(
    hidden_size=1536,
    num_hidden_layers=28,
    num_attention_heads=12,
    num_key_value_heads=2,
    intermediate_size=8960,
    vocab_size=151936,
    tie_word_embeddings=True,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    max_position_embeddings=4096,
    hidden_act="silu",
)
TINY = {
    **QWEN25_MATH_15B,
    **dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=512),
    "max_position_embeddings": 256,
}
# Metrics each method must log (at least one finite value); a method not listed here is checked for a finite loss.
METHOD_METRICS = {
    "grpo": [],
    "entropy_advantage": ["entropy/advantage_psi_mean"],
    "ppl": ["entropy/ppl_weight_mean"],
    "position": ["entropy/position_bonus_mean"],
    "paec": ["entropy/paec_nucleus_size", "entropy/paec_projected_share", "entropy/paec_penalty"],
    "sent": ["entropy/sent_kl_penalty", "entropy/sent_selected_kl"],
    "clip_cov": ["entropy/clip_cov_selected_share", "entropy/clip_cov_cov_mean"],
    "kl_cov": ["entropy/kl_cov_penalty", "entropy/kl_cov_selected_share"],
    "ppo": ["ppo/value_loss"],
    "entropy_advantage_ppo": ["ppo/value_loss", "entropy/advantage_psi_mean"],
    "shaping": ["entropy/ppl_weight_mean", "entropy/advantage_psi_mean", "entropy/position_bonus_mean"],
}
BASELINE = "trl_grpo"  # TRL's own GRPOTrainer: the denominator of every ratio


class PartTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise `PartTimeout` in this (main) thread after `seconds`."""

    def handler(signum, frame):
        raise PartTimeout(f"over its {seconds:.0f} s limit")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def settings(args) -> dict:
    """Model and run sizes of this check."""
    arch = dict(TINY if args.tiny else QWEN25_MATH_15B)
    if args.num_layers:
        arch["num_hidden_layers"] = args.num_layers
    run = (
        dict(prompt_length=8, completion_length=8, batch_size=8, num_generations=4, steps=2, warmup_steps=1)
        if args.tiny
        else dict(prompt_length=32, completion_length=128, batch_size=16, num_generations=8, steps=5, warmup_steps=1)
    )
    if args.steps:
        run["steps"] = args.steps
    if args.completion_length:
        run["completion_length"] = args.completion_length
    return dict(arch=arch, run=run, logit_scale=args.logit_scale or 1.0, target_entropy=args.target_entropy)


def device_and_dtype(args):
    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    return device, dtype


def build_model(cfg, device, dtype, num_layers=None, seed=0):
    """The random-init policy (same weights for the same seed), logits scaled through the final norm."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    arch = dict(cfg["arch"])
    if num_layers:
        arch["num_hidden_layers"] = num_layers
    config = Qwen2Config(**arch, pad_token_id=0, eos_token_id=1, bos_token_id=None, use_cache=True)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype)
    with torch.no_grad():  # every logit times the scale: the final norm only feeds the (tied) head
        model.model.norm.weight.mul_(cfg["logit_scale"])
    return model


def calibrate_logit_scale(cfg, device, dtype):
    """
    The logit scale at which the policy's mean next-token entropy on random prompts is `cfg["target_entropy"]`.

    A random-init model is nearly uniform over its vocabulary (about 11.9 nats over 151,936 tokens) where a trained one
    has 0.2-1 nat. The logits are linear in the final norm's weight, so one forward gives the logits at every scale:
    bisection on the log of the scale. On the sampled completions the entropy came out close to the prompts' (2-layer
    model of width 1536 on a CPU: 1.50 / 1.49 nats at scale 10, 3.76 / 3.59 at 6).
    """
    import torch
    import torch.nn.functional as F

    model = build_model({**cfg, "logit_scale": 1.0}, device, dtype)
    ids = random_batch(cfg, device, 4, 32, seed=4)
    with torch.no_grad():
        hidden = model.model(input_ids=ids).last_hidden_state.reshape(-1, model.config.hidden_size)
        base = F.linear(hidden, model.lm_head.weight).float()

        def entropy(scale):
            logps = (base * scale).log_softmax(-1)
            return -(logps.exp() * logps).sum(-1).mean().item()

        low, high = math.log(0.1), math.log(1000.0)
        for _ in range(30):  # entropy falls as the scale grows
            mid = (low + high) / 2
            low, high = (mid, high) if entropy(math.exp(mid)) > cfg["target_entropy"] else (low, mid)
        scale = math.exp((low + high) / 2)
        result = {"logit_scale": scale, "entropy_at_scale": entropy(scale), "entropy_unscaled": entropy(1.0)}
    del model
    return result


def build_tokenizer(vocab_size):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, **{f"w{i}": i for i in range(2, vocab_size)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", padding_side="left")


def build_dataset(cfg):
    from datasets import Dataset

    n, length, vocab = 256, cfg["run"]["prompt_length"], min(cfg["arch"]["vocab_size"], 1000)
    prompts = [" ".join(f"w{2 + (17 * i + 5 * j) % (vocab - 2)}" for j in range(length)) for i in range(n)]
    return Dataset.from_dict({"prompt": prompts})


def length_reward(completions, **kwargs):
    return [len(c) % 7 / 7 for c in completions]


def random_batch(cfg, device, batch, length, seed=1):
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, cfg["arch"]["vocab_size"], (batch, length), generator=generator)
    return ids.to(device)


def peak_memory_mb(device) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_memory(device):
    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# ----------------------------------------------------------------------------------------------------------- parts


def part_env(args, cfg, device, dtype):
    import importlib.metadata as metadata

    import torch

    versions = {"python": platform.python_version()}
    for name in ("torch", "triton", "transformers", "trl", "accelerate", "peft", "datasets", "pyarrow", "math-verify",
                 "trl-entropy"):  # fmt: skip
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import trl_entropy

    versions["trl_entropy (imported)"] = trl_entropy.__version__
    result = {
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "versions": versions,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        result.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=props.total_memory / 2**30,
                      cuda=torch.version.cuda, capability=list(torch.cuda.get_device_capability(0)))  # fmt: skip
    from transformers.utils import is_triton_available

    result["triton_available"] = is_triton_available()
    try:
        from trl.kernels.chunked_logprob import _use_triton

        result["fused_head_uses_triton"] = bool(_use_triton(torch.device(device)))
    except Exception as error:  # a private helper: its absence is a finding, not a failure
        result["fused_head_uses_triton"] = f"unknown ({error!r})"
    return result


def part_fused_head(args, cfg, device, dtype):
    """TRL's fused LM head (as GRPOTrainer adds it) against float32 logits from the same hidden states."""
    import torch
    import torch.nn.functional as F
    from trl.trainer.utils import add_fused_lm_head

    model = build_model(cfg, device, dtype)
    add_fused_lm_head(model, outputs=("log_probs", "entropy"))
    batch, length = (4, 24) if args.tiny else (4, 256)
    ids = random_batch(cfg, device, batch, length)
    labels = ids.clone()
    labels[:, : length // 4] = -100  # a prompt: unscored
    attention = torch.ones_like(ids)

    out = model(input_ids=ids, attention_mask=attention, labels=labels, fused_lm_head=True)
    norm = model.model.norm.weight
    (out.entropy.float().sum() + out.log_probs.float().sum()).backward()
    fused_grad = norm.grad.detach().float().clone()
    model.zero_grad(set_to_none=True)

    hidden = model.model(input_ids=ids, attention_mask=attention).last_hidden_state[:, :-1]
    logits = F.linear(hidden.float(), model.lm_head.weight.float())  # the full logits, float32
    logps = logits.log_softmax(-1)
    target = labels[:, 1:]
    mask = target != -100
    ref_logp = logps.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    ref_entropy = -(logps.exp() * logps).sum(-1)
    ((ref_entropy * mask).sum() + (ref_logp * mask).sum()).backward()
    ref_grad = norm.grad.detach().float()

    fused_logp, fused_entropy = out.log_probs.detach().float(), out.entropy.detach().float()
    logp_err = (fused_logp - ref_logp.detach())[mask].abs().max().item()
    entropy_err = (fused_entropy - ref_entropy.detach())[mask].abs().max().item()
    grad_rel = ((fused_grad - ref_grad).norm() / ref_grad.norm().clamp(min=1e-30)).item()
    tol = 2e-2 if dtype == torch.bfloat16 else 1e-4
    result = {
        "positions": int(mask.sum()),
        "mean_entropy_nats": ref_entropy.detach()[mask].mean().item(),
        "max_abs_err_log_probs": logp_err,
        "max_abs_err_entropy": entropy_err,
        "rel_err_entropy_grad": grad_rel,
        "tolerance_abs": tol,
        "tolerance_grad_rel": 5 * tol,
        "outside_mask_zero": bool((fused_entropy[~mask] == 0).all() and (fused_logp[~mask] == 0).all()),
    }
    result["ok"] = logp_err <= tol and entropy_err <= tol and grad_rel <= 5 * tol and result["outside_mask_zero"]
    del model, out
    return result


def part_paec_tiles(args, cfg, device, dtype):
    """PAEC's tiled statistics against `nucleus_statistics` on the full logits, on the policy's hidden states."""
    import torch
    import torch.nn.functional as F

    from trl_entropy.functional.paec import decision_statistics, nucleus_statistics

    model = build_model(cfg, device, dtype)
    batch, length = (4, 24) if args.tiny else (8, 128)
    ids = random_batch(cfg, device, batch, length, seed=2)
    with torch.no_grad():
        hidden = model.model(input_ids=ids).last_hidden_state
    weight = model.lm_head.weight.detach()
    generator = torch.Generator().manual_seed(3)
    mask = (torch.rand(batch, length, generator=generator) < 0.7).to(device)
    flat = hidden.reshape(-1, hidden.size(-1))
    rows = mask.reshape(-1)
    references = {
        "same_dtype": nucleus_statistics(F.linear(flat[rows], weight).float()),
        "float32": nucleus_statistics(F.linear(flat[rows].float(), weight.float())),
    }
    result = {"positions": int(rows.sum()), "vocab_size": weight.size(0), "tilings": {}}
    tol_same = 1e-3 if dtype == torch.bfloat16 else 1e-5
    tol_fp32 = 5e-2 if dtype == torch.bfloat16 else 1e-5
    ok = True
    for label, tile_size in (("default_tile", None), ("tile_7", 7)):
        stats = decision_statistics(hidden, weight, mask=mask, tile_size=tile_size)
        entry = {"tile_size": tile_size}
        outside = all(bool((s.reshape(-1)[~rows] == 0).all()) for s in stats)
        entry["outside_mask_zero"] = outside
        for ref_name, ref in references.items():
            tol = tol_same if ref_name == "same_dtype" else tol_fp32
            entropy_err = (stats.nucleus_entropy.reshape(-1)[rows] - ref.nucleus_entropy).abs().max().item()
            gap_err = (stats.top2_gap.reshape(-1)[rows] - ref.top2_gap).abs().max().item()
            size_diff = stats.nucleus_size.reshape(-1)[rows] != ref.nucleus_size
            size_share = size_diff.float().mean().item()
            passed = entropy_err <= tol and gap_err <= tol and size_share <= 0.01
            entry[ref_name] = {"max_abs_err_nucleus_entropy": entropy_err, "max_abs_err_top2_gap": gap_err,
                               "nucleus_size_mismatch_share": size_share, "tolerance": tol, "ok": passed}  # fmt: skip
            ok = ok and passed
        ok = ok and outside
        result["tilings"][label] = entry
    ref = references["float32"]
    result["mean_nucleus_size"] = ref.nucleus_size.float().mean().item()
    result["mean_nucleus_entropy"] = ref.nucleus_entropy.float().mean().item()
    result["ok"] = ok
    del model
    return result


def build_trainer(name, cfg, device, dtype, output_dir, extra_config=None, num_layers=None):
    """One arm: TRL's GRPOTrainer (`trl_grpo`) or a registered method, on a freshly built policy."""
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from trl_entropy.methods import get_method

    run = cfg["run"]
    model = build_model(cfg, device, dtype, num_layers=num_layers)
    tokenizer = build_tokenizer(cfg["arch"]["vocab_size"])
    dataset = build_dataset(cfg)
    common = dict(
        output_dir=output_dir,
        use_cpu=device == "cpu",
        bf16=dtype == torch.bfloat16,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        per_device_train_batch_size=run["batch_size"],
        num_generations=run["num_generations"],
        max_completion_length=run["completion_length"],
        max_steps=run["steps"],
        learning_rate=1e-6,
        seed=0,
        # Every arm alike: SENT's token KL acts on the off-policy step of each generation.
        steps_per_generation=2,
        dataloader_num_workers=0,
    )
    common.update(extra_config or {})
    if name == BASELINE:
        return quiet(GRPOTrainer(model, length_reward, args=GRPOConfig(**common), train_dataset=dataset,
                                 processing_class=tokenizer))  # fmt: skip
    method = get_method(name)
    extra = {}
    if name in ("position", "shaping"):
        common["position_schedule"] = "always"
    if name == "shaping":
        common["shaping_methods"] = ["ppl", "entropy_advantage", "position"]
    if name == "paec":  # the anchor from the first step and a floor above it: the penalty acts from step 2
        common.update(paec_anchor_steps=1, paec_rho_min=2.0)
    if name == "sent":
        from trl_entropy import SemanticEntropyCurriculum

        dataset = SemanticEntropyCurriculum(dataset, [(37 * i) % len(dataset) / 128 for i in range(len(dataset))])
        common["shuffle_dataset"] = False
    if name in ("ppo", "entropy_advantage_ppo"):
        # One completion per prompt (the same completions per step as GRPO); a critic of the policy's size.
        from transformers import Qwen2Config, Qwen2ForTokenClassification

        common["num_generations"] = 1
        critic_config = Qwen2Config(**{**model.config.to_dict(), "num_labels": 1})
        with torch.device(device):
            critic = Qwen2ForTokenClassification(critic_config).to(dtype)
        critic.model.load_state_dict(model.model.state_dict())
        with torch.no_grad():
            critic.score.weight.zero_()
        extra["critic_model"] = critic
    return quiet(method.trainer_class(model, length_reward, args=method.config_class(**common),
                                      train_dataset=dataset, processing_class=tokenizer, **extra))  # fmt: skip


def quiet(trainer):
    """No log dict printed at every step (the summary lines say what matters; the JSON has the rest)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def finite_values(history, key):
    return [e[key] for e in history if key in e and isinstance(e[key], (int, float)) and math.isfinite(e[key])]


def run_arm(name, cfg, device, dtype):
    free_memory(device)
    start_memory = peak_memory_mb(device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = build_trainer(name, cfg, device, dtype, output_dir)
        built = time.perf_counter()
        trainer.train()
        history = trainer.state.log_history
    wall = time.perf_counter() - started
    peak = peak_memory_mb(device)
    times = finite_values(history, "step_time")[cfg["run"]["warmup_steps"] :]
    losses = finite_values(history, "loss")
    logged_losses = [e["loss"] for e in history if "loss" in e]
    required = METHOD_METRICS.get(name, [])
    missing = [key for key in required if not finite_values(history, key)]
    method_keys = sorted({k for e in history for k in e if k.startswith(("entropy/", "ppo/"))})
    metrics = {
        key: statistics.median(finite_values(history, key)) for key in method_keys if finite_values(history, key)
    }
    metrics_max = {key: max(finite_values(history, key)) for key in metrics}
    result = {
        "steps": trainer.state.global_step,
        "losses": logged_losses,
        "loss_finite": bool(logged_losses) and len(losses) == len(logged_losses),
        "median_step_time_s": statistics.median(times) if times else None,
        "step_times_s": finite_values(history, "step_time"),
        "peak_memory_mb": peak,
        "memory_at_start_mb": start_memory,
        "median_entropy": statistics.median(finite_values(history, "entropy"))
        if finite_values(history, "entropy")
        else None,
        "required_metrics": required,
        "missing_metrics": missing,
        "method_metrics": metrics,  # medians over the logged steps
        "method_metrics_max": metrics_max,
        "build_s": built - started,
        "wall_s": wall,
    }
    result["ok"] = result["loss_finite"] and not missing and result["steps"] == cfg["run"]["steps"]
    del trainer
    free_memory(device)
    return result


def part_methods(args, cfg, device, dtype, deadline, report, save):
    from trl_entropy.methods import METHODS

    names = [BASELINE, *(args.methods or METHODS)]
    arms = report.setdefault("arms", {})
    for name in names:
        remaining = deadline - time.monotonic()
        done = [a["wall_s"] for a in arms.values() if "wall_s" in a]
        estimate = 1.5 * max(done) if done else 0.0
        if remaining < max(estimate, 5.0):
            arms[name] = {"skipped": f"time budget: {remaining:.0f} s left, about {estimate:.0f} s needed"}
            print(f"  {name}: skipped ({arms[name]['skipped']})", flush=True)
            continue
        try:
            with time_limit(remaining):
                arms[name] = run_arm(name, cfg, device, dtype)
        except PartTimeout as error:
            arms[name] = {"skipped": f"stopped: {error}", "ok": False}
        except Exception as error:
            arms[name] = {"error": f"{type(error).__name__}: {error}", "ok": False}
            free_memory(device)
        arm = arms[name]
        if "median_step_time_s" in arm:
            print(f"  {name}: loss {arm['losses']}, step {arm['median_step_time_s']:.3f} s, peak "
                  f"{arm['peak_memory_mb']:.0f} MB, entropy {arm['median_entropy']}, missing {arm['missing_metrics']}, "
                  f"wall {arm['wall_s']:.1f} s", flush=True)  # fmt: skip
        else:
            print(f"  {name}: {arm}", flush=True)
        save()
    base = arms.get(BASELINE, {})
    ratios = {}
    for name, arm in arms.items():
        if name != BASELINE and arm.get("median_step_time_s") and base.get("median_step_time_s"):
            ratios[name] = {
                "time_ratio": arm["median_step_time_s"] / base["median_step_time_s"],
                "memory_ratio": arm["peak_memory_mb"] / base["peak_memory_mb"],
            }
    report["ratios_vs_trl_grpo"] = ratios
    for name, ratio in ratios.items():
        print(f"  {name}: step time ratio {ratio['time_ratio']:.3f}, peak memory ratio {ratio['memory_ratio']:.3f} "
              "(method / GRPOTrainer)", flush=True)  # fmt: skip
    report["ok"] = all(arms.get(n, {}).get("ok", False) for n in names)
    return report


def fsdp_child(args):
    """Inside `accelerate launch` (or a plain process on a CPU): PAEC a few steps, save, reload, resume."""
    import torch
    from accelerate import PartialState

    cfg = json.loads(args.fsdp_child)
    device, dtype = cfg["device"], getattr(torch, cfg["dtype"])
    result = {"distributed_type": str(PartialState().distributed_type), "num_processes": PartialState().num_processes}
    output_dir = cfg["output_dir"]
    steps = cfg["run"]["steps"]
    save = dict(save_strategy="steps", save_steps=steps - 1, save_only_model=False)
    trainer = build_trainer("paec", cfg, device, dtype, output_dir, save, num_layers=cfg["fsdp_layers"])
    plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
    result["fsdp_enabled"] = bool(trainer.is_fsdp_enabled)
    result["fsdp_version"] = getattr(plugin, "fsdp_version", None)
    trainer.train()
    history = trainer.state.log_history
    result["losses"] = [e["loss"] for e in history if "loss" in e]
    result["steps"] = trainer.state.global_step
    checkpoint = os.path.join(output_dir, f"checkpoint-{steps - 1}")
    result["checkpoint_files"] = sorted(os.listdir(checkpoint)) if os.path.isdir(checkpoint) else []
    del trainer
    gc.collect()

    # Reload the checkpoint's weights (a plain from_pretrained, as a user would) and resume training from it.
    from transformers import Qwen2ForCausalLM

    reloaded = Qwen2ForCausalLM.from_pretrained(checkpoint, dtype=dtype)
    norms = {n: p.float().norm().item() for n, p in reloaded.named_parameters()}
    result["reloaded_parameters"] = len(norms)
    result["reloaded_finite"] = all(math.isfinite(v) for v in norms.values())
    fresh = build_model(cfg, "cpu", dtype, num_layers=cfg["fsdp_layers"])
    changed = [n for n, p in fresh.named_parameters()
               if not torch.equal(p.detach().cpu(), reloaded.state_dict()[n].cpu())]  # fmt: skip
    result["reloaded_differs_from_init"] = len(changed)
    del reloaded, fresh
    trainer = build_trainer("paec", cfg, device, dtype, output_dir, save, num_layers=cfg["fsdp_layers"])
    trainer.train(resume_from_checkpoint=checkpoint)
    resumed = trainer.state.log_history
    result["resumed_steps"] = trainer.state.global_step
    result["resumed_losses"] = [e["loss"] for e in resumed if "loss" in e and e.get("step", 0) > steps - 1]
    result["ok"] = (
        result["steps"] == steps
        and all(math.isfinite(v) for v in result["losses"] + result["resumed_losses"])
        and bool(result["resumed_losses"])
        and result["resumed_steps"] == steps
        and result["reloaded_finite"]
        and result["reloaded_differs_from_init"] > 0
        and any(f.endswith(".safetensors") for f in result["checkpoint_files"])
    )
    if PartialState().is_main_process:
        with open(cfg["result_path"], "w") as f:
            json.dump(result, f, indent=2)


def part_fsdp(args, cfg, device, dtype, limit):
    with tempfile.TemporaryDirectory() as work:
        child_cfg = {**cfg, "device": device, "dtype": str(dtype).removeprefix("torch."), "output_dir": work,
                     "result_path": os.path.join(work, "fsdp.json"),
                     "fsdp_layers": args.fsdp_layers if not args.tiny else None}  # fmt: skip
        child_cfg["run"] = {**cfg["run"], "steps": 2 if args.tiny else 3}
        script = [os.path.abspath(__file__), "--fsdp-child", json.dumps(child_cfg)]
        if device == "cuda":
            # `accelerate launch`, through this Python (the wheels' path set by gpu_check.sh holds for the child too)
            launch = [sys.executable, "-m", "accelerate.commands.launch"]
            command = [*launch, "--config_file", FSDP_CONFIG, "--num_processes", "1", *script]
            note = "accelerate launch with recipes/accelerate_configs/fsdp2.yaml, one process"
        else:
            command = [sys.executable, *script]
            note = "CPU: accelerate runs FSDP on accelerators only; the same steps as a plain single process"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
            p for p in (REPO, os.environ.get("PYTHONPATH")) if p)}  # fmt: skip
        started = time.perf_counter()
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=limit, env=env, cwd=REPO)
        except subprocess.TimeoutExpired:
            return {"note": note, "ok": False, "skipped": f"stopped: over its {limit:.0f} s limit"}
        result = {"note": note, "command": " ".join(command[: command.index("--fsdp-child")]), "returncode": proc.returncode,
                  "wall_s": time.perf_counter() - started}  # fmt: skip
        if os.path.isfile(child_cfg["result_path"]):
            with open(child_cfg["result_path"]) as f:
                result.update(json.load(f))
        else:
            result["ok"] = False
        if proc.returncode != 0 or not result.get("ok"):
            result["stderr_tail"] = proc.stderr[-3000:]
        result["ok"] = bool(result.get("ok")) and proc.returncode == 0
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a tiny Qwen2 and short runs (the CPU test)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out", help="folder of gpu_check.json")
    parser.add_argument("--budget", type=float, default=390.0, help="seconds for all parts together")
    parser.add_argument("--methods", nargs="+", default=None, help="methods to run (default: every registered one)")
    parser.add_argument("--parts", nargs="+", default=["env", "fused_head", "paec_tiles", "methods", "fsdp"])
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per arm")
    parser.add_argument("--completion-length", type=int, default=None)
    parser.add_argument("--num-layers", type=int, default=None, help="override the number of layers")
    parser.add_argument("--fsdp-layers", type=int, default=4, help="layers of the FSDP part's model (full width)")
    parser.add_argument("--fsdp-limit", type=float, default=150.0, help="seconds reserved for the FSDP part")
    parser.add_argument("--logit-scale", type=float, default=None, help="default: calibrated to --target-entropy")
    parser.add_argument(
        "--target-entropy",
        type=float,
        default=0.6,
        help="mean next-token entropy (nats) the logit scale is calibrated to on random prompts",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--fsdp-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.fsdp_child:
        return fsdp_child(args)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.monotonic()
    deadline = started + args.budget
    device, dtype = device_and_dtype(args)
    cfg = settings(args)
    if not args.logit_scale:
        calibration = calibrate_logit_scale(cfg, device, dtype)
        cfg["logit_scale"] = calibration["logit_scale"]
        cfg["calibration"] = calibration
        print(
            f"logit scale {calibration['logit_scale']:.3f}: mean entropy {calibration['entropy_at_scale']:.3f} nats "
            f"on random prompts ({calibration['entropy_unscaled']:.3f} unscaled)",
            flush=True,
        )
        free_memory(device)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gpu_check.json")
    report = {"command": " ".join(sys.argv), "tiny": args.tiny, "budget_s": args.budget, "settings": cfg, "parts": {}}

    def save():
        report["elapsed_s"] = time.monotonic() - started
        with open(path, "w") as f:
            json.dump(report, f, indent=2, default=str)

    # Seconds each correctness part may take before it is stopped.
    limits = {"env": 30, "fused_head": 60, "paec_tiles": 60}
    for part in args.parts:
        remaining = deadline - time.monotonic()
        print(f"== {part} ({remaining:.0f} s left)", flush=True)
        if part == "methods":
            reserve = min(args.fsdp_limit, remaining / 3) if "fsdp" in args.parts else 0.0
            entry = report["parts"].setdefault("methods", {})
            try:
                part_methods(args, cfg, device, dtype, deadline - reserve, entry, save)
            except Exception as error:
                entry.update(error=f"{type(error).__name__}: {error}", ok=False)
        elif part == "fsdp":
            if remaining < 20:
                report["parts"]["fsdp"] = {"skipped": f"time budget: {remaining:.0f} s left", "ok": False}
            else:
                report["parts"]["fsdp"] = part_fsdp(args, cfg, device, dtype, min(remaining, args.fsdp_limit))
        else:
            function = {"env": part_env, "fused_head": part_fused_head, "paec_tiles": part_paec_tiles}[part]
            limit = min(limits[part], remaining)
            if limit < 5:
                report["parts"][part] = {"skipped": f"time budget: {remaining:.0f} s left", "ok": False}
            else:
                part_started = time.perf_counter()
                try:
                    with time_limit(limit):
                        report["parts"][part] = function(args, cfg, device, dtype)
                except PartTimeout as error:
                    report["parts"][part] = {"skipped": f"stopped: {error}", "ok": False}
                except Exception as error:
                    report["parts"][part] = {"error": f"{type(error).__name__}: {error}", "ok": False}
                report["parts"][part]["wall_s"] = time.perf_counter() - part_started
                free_memory(device)
        if part != "methods":
            print(json.dumps(report["parts"][part], default=str), flush=True)
        save()
    report["ok"] = all(report["parts"][p].get("ok", True) for p in report["parts"] if p != "env")
    save()
    print(f"== done in {report['elapsed_s']:.0f} s: {'all parts passed' if report['ok'] else 'FAILURES'}; {path}")
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()

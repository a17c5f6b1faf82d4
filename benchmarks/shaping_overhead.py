# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Step time and peak memory of trl-entropy's shaping trainers against plain TRL `GRPOTrainer`, same model, same run.

    python benchmarks/shaping_overhead.py                                  # entropy advantage, PPL and position
    python benchmarks/shaping_overhead.py --methods ppl --vocab-size 151936 --hidden-size 256 --completion-length 128
    python benchmarks/shaping_overhead.py --methods paec --vocab-size 151936 --hidden-size 256 --completion-length 128 \\
        --prompt-length 32 --logit-scale 10
    python benchmarks/shaping_overhead.py --methods sent --steps-per-generation 2 --vocab-size 151936 \\
        --hidden-size 256 --completion-length 128 --prompt-length 32 --logit-scale 10
    python benchmarks/shaping_overhead.py --methods clip_cov kl_cov --steps-per-generation 2 --logit-scale 10
    python benchmarks/shaping_overhead.py --methods composed entropy_advantage ppl position paec --logit-scale 10

Each trainer runs in its own subprocess (so that peak memory is its own), GRPO and the methods in a rotating order for
`--repeats` rounds so that drifts of the machine hit all alike. Each method runs in its most expensive setting: position
shaping with `position_schedule="always"`, PPL shaping with TRL's on-policy default (weights from the loss pass), PAEC
with the defaults of `PAECGRPOConfig` except an anchor from step 1 and a floor above it (`paec_anchor_steps=1`,
`paec_rho_min=2`), so that the penalty and its backward act at every measured step, SENT with its token KL on a
`SemanticEntropyCurriculum` (every arm with `--steps-per-generation 2`, so that the KL acts on every other step), PPO
and PPO + entropy advantage with one completion per prompt (the same completions per step as GRPO) and a critic of the
policy's size, out of its warm-up. Step time is TRL's own `step_time` metric (generation, scoring, forward and backward of
one optimizer step); the first `--warmup-steps` steps are dropped. Peak memory is the process's peak resident set
size on the CPU, `torch.cuda.max_memory_allocated` on a GPU. Reported as ratios of medians (method / GRPO).

`--logit-scale s` multiplies the final norm's weight by `s`, so every logit is scaled by `s` (the embeddings are tied,
but the final norm only feeds the head): a random-init model's next-token distributions are nearly uniform over the
vocabulary, a trained model's are peaked, and PAEC's cost depends on how many positions it must project and on the
size of their nucleus. Every run records the median over logged steps of TRL's `entropy` metric (mean token entropy),
PAEC's runs also of `entropy/paec_projected_share` and `entropy/paec_nucleus_size`.

Two reference arms split PAEC's cost: `paec_statistics_only` (`paec_use_penalty=False`: the projection, nucleus
search and mask, no gradient through the entropies) and `grpo_entropy_bonus` (plain `GRPOTrainer` with TRL's own
`entropy_coef=0.01`, whose backward also runs through TRL's entropies). Two more measure the covariance methods' `global`
scope: `clip_cov_global` and `kl_cov_global` (`*_scope: global`, one extra forward without gradient per micro-batch).
`composed` is `ComposedGRPOTrainer` with every shaper plus PAEC (`methods: [ppl, entropy_advantage, position, paec]`),
each in the setting above.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile


METHODS = (
    "entropy_advantage",
    "ppl",
    "position",
    "paec",
    "sent",
    "ppo",
    "entropy_advantage_ppo",
    "clip_cov",
    "kl_cov",
    "composed",
)
# Reference arms that split PAEC's cost in two: its statistics and mask without the penalty, and TRL's own entropy
# bonus (`entropy_coef`), i.e. a gradient through TRL's entropies with no trl-entropy code at all.
# `clip_cov_global` / `kl_cov_global`: the covariance methods with `*_scope: global` (one extra forward without
# gradient per micro-batch), the paper's selection set instead of the authors' per-micro-batch one.
REFERENCE_ARMS = ("paec_statistics_only", "grpo_entropy_bonus", "clip_cov_global", "kl_cov_global")
PAEC_METRICS = {"projected_share": "entropy/paec_projected_share", "nucleus_size": "entropy/paec_nucleus_size"}


def build_random_policy(args):
    """
    A random-init Qwen2 of `args.vocab_size` tokens (`args.hidden_size`, `args.num_layers`, logits scaled by
    `args.logit_scale`), a word-level tokenizer over its vocabulary, 512 prompts of `args.prompt_length` words and a
    reward: `(model, config, tokenizer, dataset, reward)`. Also used by `analysis_overhead.py`.
    """
    import torch
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    # A word-level tokenizer over a vocabulary of the requested size: every id the model samples decodes.
    vocab = {"<pad>": 0, "<eos>": 1, **{f"w{i}": i for i in range(2, args.vocab_size)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", padding_side="left"
    )
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        intermediate_size=4 * args.hidden_size,
        num_hidden_layers=args.num_layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=args.prompt_length + args.completion_length + 8,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # scales every logit: the final norm only feeds the (tied) head
        model.model.norm.weight.mul_(args.logit_scale)
    prompts = [" ".join(f"w{2 + (17 * i + 5 * j) % 1000}" for j in range(args.prompt_length)) for i in range(512)]
    dataset = Dataset.from_dict({"prompt": prompts})

    def length_reward(completions, **kwargs):
        return [len(c) % 7 / 7 for c in completions]

    return model, config, tokenizer, dataset, length_reward


def benchmark_run_kwargs(output_dir: str, max_steps: int, seed: int) -> dict:
    """The GRPOConfig keywords every benchmark run shares: bf16 on a GPU, the CPU otherwise, no saving, no progress
    bars, a log entry (and so a `step_time`) every step."""
    import torch

    on_gpu = torch.cuda.is_available()
    return dict(
        output_dir=output_dir,
        use_cpu=not on_gpu,
        bf16=on_gpu,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        max_steps=max_steps,
        seed=seed,
    )


def build_run(args, trainer_name: str, output_dir: str):
    from trl import GRPOConfig, GRPOTrainer

    from trl_entropy.methods import get_method

    model, config, tokenizer, dataset, length_reward = build_random_policy(args)
    common = dict(
        benchmark_run_kwargs(output_dir, args.steps, seed=0),
        per_device_train_batch_size=args.batch_size,
        num_generations=args.num_generations,
        max_completion_length=args.completion_length,
        learning_rate=1e-5,
        steps_per_generation=args.steps_per_generation,
    )
    if trainer_name == "grpo_entropy_bonus":
        return GRPOTrainer(model, length_reward, args=GRPOConfig(**common, entropy_coef=0.01), train_dataset=dataset,
                           processing_class=tokenizer)  # fmt: skip
    if trainer_name == "paec_statistics_only":
        method = get_method("paec")
        return method.trainer_class(model, length_reward, args=method.config_class(**common, paec_use_penalty=False),
                                    train_dataset=dataset, processing_class=tokenizer)  # fmt: skip
    if trainer_name == "grpo":  # TRL's own trainer, not our subclass: the baseline is plain TRL
        return GRPOTrainer(model, length_reward, args=GRPOConfig(**common), train_dataset=dataset,
                           processing_class=tokenizer)  # fmt: skip
    if trainer_name in ("clip_cov_global", "kl_cov_global"):
        trainer_name = trainer_name.removesuffix("_global")
        common[f"{trainer_name}_scope"] = "global"
    method = get_method(trainer_name)
    if trainer_name == "position":
        common["position_schedule"] = "always"
    if trainer_name == "sent":
        # The whole method: a curriculum (scores that are a fixed permutation, so that every batch mixes them) in
        # TRL's unshuffled order, and the token KL, which acts on the off-policy steps (`--steps-per-generation 2`).
        from trl_entropy import SemanticEntropyCurriculum

        dataset = SemanticEntropyCurriculum(dataset, [(37 * i) % 512 / 256 for i in range(len(dataset))])
        common["shuffle_dataset"] = False
    extra = {}
    if trainer_name in ("ppo", "entropy_advantage_ppo"):
        # The same completions per step as GRPO, one per prompt; the critic is the policy's backbone with a scalar
        # head (a second model of the same size, trained with its own optimizer).
        from transformers import Qwen2Config, Qwen2ForTokenClassification

        common["num_generations"] = 1
        critic = Qwen2ForTokenClassification(Qwen2Config(**{**config.to_dict(), "num_labels": 1}))
        critic.model.load_state_dict(model.model.state_dict())
        extra["critic_model"] = critic
    if trainer_name == "composed":
        # Every shaper plus PAEC in one `ComposedGRPOTrainer`, each in its most expensive setting (as below).
        common.update(methods=["ppl", "entropy_advantage", "position", "paec"], position_schedule="always",
                      paec_anchor_steps=1, paec_rho_min=2.0)  # fmt: skip
    if trainer_name == "paec":
        # Its most expensive setting: the anchor from the first step, and a floor above it, so that the penalty (and
        # its backward) acts at every measured step after the warm-up.
        common.update(paec_anchor_steps=1, paec_rho_min=2.0)
    return method.trainer_class(
        model,
        length_reward,
        args=method.config_class(**common),
        train_dataset=dataset,
        processing_class=tokenizer,
        **extra,
    )


def peak_memory_mb() -> float:
    """This process's peak memory so far: resident set size on a CPU, `torch.cuda.max_memory_allocated` on a GPU."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_one(args) -> None:
    """Child process: train, print one JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = build_run(args, args.child, output_dir)
        trainer.train()
        history = trainer.state.log_history
        times = [e["step_time"] for e in history if "step_time" in e][args.warmup_steps :]
    peak_mb = peak_memory_mb()

    def logged_median(key):  # over logged steps; NaN (nothing counted) left out
        values = [e[key] for e in history if key in e and e[key] == e[key]]
        return statistics.median(values) if values else None

    result = {
        "trainer": args.child,
        "median_step_time_s": statistics.median(times),
        "peak_memory_mb": peak_mb,
        "median_entropy": logged_median("entropy"),
    }
    for name, key in PAEC_METRICS.items():
        if (value := logged_median(key)) is not None:
            result[f"median_{name}"] = value
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--completion-length", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32, help="completions per step (per process)")
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument(
        "--logit-scale", type=float, default=1.0, help="multiply every logit by this (through the final norm's weight)"
    )
    parser.add_argument(
        "--steps-per-generation",
        type=int,
        default=1,
        help="optimizer steps per generation, in every arm (SENT's token KL needs 2 or more to act)",
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=None, help="JSON file for the results")
    parser.add_argument(
        "--methods", nargs="+", default=["entropy_advantage", "ppl", "position"], choices=[*METHODS, *REFERENCE_ARMS]
    )
    parser.add_argument("--child", choices=["grpo", *METHODS, *REFERENCE_ARMS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_one(args)
    for name in ("sent", "kl_cov", "kl_cov_global"):  # a KL to the sampling policy has no gradient on-policy
        if name in args.methods and args.steps_per_generation < 2:
            parser.error(
                f"{name}'s token KL needs off-policy steps: pass --steps-per-generation 2 (applied to every arm)."
            )

    names = ["grpo", *args.methods]
    results = {name: [] for name in names}
    forwarded = [
        f"--{key.replace('_', '-')}={value}"
        for key, value in vars(args).items()
        if key not in ("child", "output", "methods")
    ]
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            out = subprocess.run(
                [sys.executable, __file__, *forwarded, "--child", name],
                capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )  # fmt: skip
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results[name].append(result)
            paec = "".join(f", {m.replace('_', ' ')} {result[f'median_{m}']:.3g}" for m in PAEC_METRICS
                           if f"median_{m}" in result)  # fmt: skip
            print(f"round {repeat + 1}: {name:18s} step {result['median_step_time_s']:.3f} s, "
                  f"peak {result['peak_memory_mb']:.0f} MB, entropy {result['median_entropy']:.3f}{paec}",
                  flush=True)  # fmt: skip

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    def optional_medians(name):  # median entropy, and PAEC's statistics when logged
        keys = ["median_entropy", *(f"median_{metric}" for metric in PAEC_METRICS)]
        return {key: median(name, key) for key in keys if all(r.get(key) is not None for r in results[name])}

    import torch

    summary = {
        "device": f"cuda: {torch.cuda.get_device_name(0)}"
        if torch.cuda.is_available()
        else f"cpu: {platform.processor() or platform.machine()}, {args.threads} threads",
        "settings": {k: v for k, v in vars(args).items() if k not in ("child", "output")},
        "grpo_step_time_s": median("grpo", "median_step_time_s"),
        "grpo_peak_memory_mb": median("grpo", "peak_memory_mb"),
        "grpo_median_entropy": optional_medians("grpo").get("median_entropy"),
        "methods": {},
        "runs": results,
    }
    for name in args.methods:
        time_s, memory_mb = median(name, "median_step_time_s"), median(name, "peak_memory_mb")
        summary["methods"][name] = {
            "step_time_s": time_s,
            "peak_memory_mb": memory_mb,
            "time_ratio": time_s / summary["grpo_step_time_s"],
            "memory_ratio": memory_mb / summary["grpo_peak_memory_mb"],
            **optional_medians(name),
        }
        print(f"{name}: step time ratio {time_s / summary['grpo_step_time_s']:.3f}, "
              f"peak memory ratio {memory_mb / summary['grpo_peak_memory_mb']:.3f} (method / GRPOTrainer)")  # fmt: skip
    stats = {name: optional_medians(name) for name in names}
    print("median token entropy (nats): " + ", ".join(f"{n} {s['median_entropy']:.3f}" for n, s in stats.items()))
    for name in args.methods:
        if "median_projected_share" in stats[name]:
            print(f"{name}: projected share {stats[name]['median_projected_share']:.3f}, "
                  f"nucleus size {stats[name]['median_nucleus_size']:.1f}")  # fmt: skip
    if args.output:
        with open(args.output, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()

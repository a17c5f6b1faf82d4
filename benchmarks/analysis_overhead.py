# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Step time and peak memory of `EntropyAnalysisCallback` against the same trainer without it, in the same run.

    python benchmarks/analysis_overhead.py --output benchmarks/results/analysis_overhead_cpu.json
    python benchmarks/analysis_overhead.py --models tiny --trainer paec --output benchmarks/results/analysis_overhead_cpu_paec.json
    python benchmarks/analysis_overhead.py --summarize benchmarks/results/analysis_overhead_cpu.json   # table again

Three arms train the same trainer (`EntropyGRPOTrainer` with a plain `GRPOConfig`, or `--trainer paec`:
`PAECGRPOTrainer` with the defaults of `PAECGRPOConfig`) for the same steps with the same seed: `none` (no callback),
`default` (`EntropyAnalysisCallback()`: step 1 and every 10th step analysed) and `every_step`
(`EntropyAnalysisCallback(every_n_steps=1)`: the worst case, the cost of one analysed step). Each run is a process of
its own (so that its peak memory is its own), the arms in a rotating order for `--repeats` rounds so that drifts of the
machine hit all alike. Models (`--models`):

- `tiny`: the step-by-step countdown task with its shipped policy and the step settings of
  `recipes/tiny_steps/grpo.yaml` (`trl-entropy/countdown-steps`, the `countdown_steps` reward,
  `trl-entropy/tiny-countdown-steps`; 16 prompts x 8 completions of at most 26 tokens per step, DAPO loss, no KL). Its
  vocabulary has 20 tokens, so the callback's LM-head pass costs next to nothing there.
- `qwen2_peaked`, `qwen2_flat`: the random-init Qwen2 of `shaping_overhead.py` (`build_random_policy`: 32,000-token
  vocabulary, hidden 128, 2 layers; 4 prompts x 8 completions of 32 tokens), where the tiled LM-head pass for G_t and
  the branching factor (a top-p nucleus per position) is a real cost. `qwen2_peaked` scales every logit by 16 (a mean
  token entropy of about 0.3 nats, a nucleus of about 10-20 tokens, like a trained policy); `qwen2_flat` leaves the
  random init's nearly uniform distributions (about 10.4 nats, a nucleus of about 29,500 tokens), the worst case of
  the nucleus search.

Step time is TRL's own `step_time` metric (generation, scoring, forward and backward of one optimizer step). The
measured steps are whole periods of the default cadence (tiny: steps 12-31, analysed 20 and 30; Qwen2: steps 2-11,
analysed 10). Per run: the mean step time over the measured steps (the amortised cost at the cadence, the figure the
target is about) and the median (the convention of the other benchmarks; at the default cadence it leaves the analysed
steps out). Peak memory is the process's peak resident set size on a CPU (`torch.cuda.max_memory_allocated` on a GPU)
and, on a CPU, also its growth during `train()` (the peak at the end minus the peak before `train()`), without the
fixed cost of the interpreter, the libraries and the loaded model. Ratios (callback / `none`) are taken within each
round and reported as mean and standard deviation over the rounds.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from seed_table import mean_std
from shaping_overhead import benchmark_run_kwargs, build_random_policy, peak_memory_mb


ARMS = {"none": None, "default": 10, "every_step": 1}  # arm -> `every_n_steps` of the callback (None: no callback)
# model -> (steps, warm-up steps): the measured steps are whole periods of the default cadence (tiny: steps 12-31,
# analysed 20 and 30; Qwen2: steps 2-11, analysed 10).
MODELS = {"tiny": (31, 11), "qwen2_peaked": (11, 1), "qwen2_flat": (11, 1)}
QWEN2_LOGIT_SCALE = {"qwen2_peaked": 16.0, "qwen2_flat": 1.0}
# The settings of `recipes/tiny_steps/grpo.yaml` that concern one training step.
TINY_RECIPE = dict(
    learning_rate=1e-4,
    lr_scheduler_type="constant",
    per_device_train_batch_size=128,
    num_generations=8,
    max_completion_length=26,
    temperature=1.0,
    beta=0.0,
    loss_type="dapo",
    dataloader_num_workers=0,
)
# The random-init Qwen2's shapes and batch, those of `shaping_overhead.py`.
QWEN2 = dict(vocab_size=32000, hidden_size=128, num_layers=2, prompt_length=16, completion_length=32)
QWEN2_BATCH = dict(per_device_train_batch_size=32, num_generations=8, learning_rate=1e-5, loss_type="dapo", beta=0.0)
RATIOS = ("median_time_ratio", "mean_time_ratio", "estimated_time_ratio", "memory_ratio", "train_memory_ratio")


def build_trainer(args, output_dir: str):
    import torch
    from trl import GRPOConfig

    from trl_entropy import EntropyAnalysisCallback, EntropyGRPOTrainer, PAECGRPOConfig, PAECGRPOTrainer

    common = benchmark_run_kwargs(output_dir, args.steps, args.seed)
    if args.model == "tiny":
        from trl_entropy.tasks.countdown_steps import build_dataset, countdown_steps_reward
        from trl_entropy.tasks.names import TINY_STEPS_POLICY_PATH

        model, reward, tokenizer = TINY_STEPS_POLICY_PATH, countdown_steps_reward, None
        dataset = build_dataset(split="train", seed=args.seed)
        common.update(TINY_RECIPE, model_init_kwargs={"dtype": torch.float32})
    else:
        shapes = argparse.Namespace(**QWEN2, logit_scale=QWEN2_LOGIT_SCALE[args.model])
        model, _, tokenizer, dataset, reward = build_random_policy(shapes)
        common.update(QWEN2_BATCH, max_completion_length=QWEN2["completion_length"])
    trainer_class, config_class = (
        (PAECGRPOTrainer, PAECGRPOConfig) if args.trainer == "paec" else (EntropyGRPOTrainer, GRPOConfig)
    )
    every = ARMS[args.child]
    return trainer_class(
        model,
        reward,
        args=config_class(**common),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[] if every is None else [EntropyAnalysisCallback(every_n_steps=every)],
    )


def _peak_rss_so_far_mb() -> float | None:
    """`VmHWM` of this process (Linux), the same high-water mark as `ru_maxrss`."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_one(args) -> None:
    """Child process: train, print one JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = build_trainer(args, output_dir)
        before_mb = None if torch.cuda.is_available() else _peak_rss_so_far_mb()
        trainer.train()
        history = trainer.state.log_history
        analysed = [record["step"] for cb in trainer.callback_handler.callbacks if hasattr(cb, "records")
                    for record in cb.records]  # fmt: skip
    peak_mb = peak_memory_mb()
    steps = [e for e in history if "step_time" in e][args.warmup_steps :]
    times = [e["step_time"] for e in steps]

    def logged_median(key):
        values = [e[key] for e in history if isinstance(e.get(key), float) and e[key] == e[key]]
        return statistics.median(values) if values else None

    print(json.dumps({
        "arm": args.child,
        "median_step_time_s": statistics.median(times),
        "mean_step_time_s": statistics.fmean(times),
        "step_times_s": times,
        "measured_steps": [steps[0]["step"], steps[-1]["step"]],
        "analysed_steps": analysed,
        "peak_memory_mb": peak_mb,
        "train_memory_mb": None if before_mb is None else peak_mb - before_mb,
        "median_entropy": logged_median("entropy"),
        "median_branching": logged_median("analysis/branching"),
    }))  # fmt: skip


def summarize(runs: dict[str, list[dict]], arms: list[str]) -> dict:
    """Per arm with a callback: the ratios against `none` of each round, their mean and standard deviation."""
    summary = {}
    for arm in arms[1:]:
        rows = []
        for base, run in zip(runs["none"], runs[arm], strict=False):
            row = {
                "median_time_ratio": run["median_step_time_s"] / base["median_step_time_s"],
                "mean_time_ratio": run["mean_step_time_s"] / base["mean_step_time_s"],
                "memory_ratio": run["peak_memory_mb"] / base["peak_memory_mb"],
            }
            if run["train_memory_mb"] is not None and base["train_memory_mb"]:
                row["train_memory_ratio"] = run["train_memory_mb"] / base["train_memory_mb"]
            rows.append(row)
        # Less exposed to a slow step than the mean: the cost of one analysed step from the every-step arm's median,
        # times the share of analysed steps among the measured ones.
        if arm != "every_step" and len(runs.get("every_step", [])) == len(rows):
            for row, base, run, worst in zip(rows, runs["none"], runs[arm], runs["every_step"], strict=False):
                first, last = run["measured_steps"]
                share = sum(first <= step <= last for step in run["analysed_steps"]) / (last - first + 1)
                row["estimated_time_ratio"] = 1 + share * (
                    worst["median_step_time_s"] / base["median_step_time_s"] - 1
                )
        summary[arm] = {key: mean_std(rows, key) for key in RATIOS}
        summary[arm]["rounds"] = rows
    return summary


def markdown_table(report: dict) -> str:
    def fmt(value, digits=3):
        return "-" if value is None else f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"

    settings = report["settings"]
    lines = [
        f"`EntropyAnalysisCallback` / no callback, `{settings['trainer']}` trainer, {report['device']}, "
        f"{report['date']}; {report['rounds_done']} rounds, mean ± std over rounds of the per-round ratios.",
        "",
        "| model | cadence | measured steps | step time ratio (mean over steps) | step time ratio (median) "
        "| step time ratio (estimated) | peak memory ratio | memory growth in train() ratio "
        "| no callback: mean step (s), peak (MB) | entropy (nats) | branching |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model, result in report["results"].items():
        base = result["none"]
        for arm, row in result["ratios"].items():
            cadence = {"default": "every 10 steps (default)", "every_step": "every step"}[arm]
            first = result["runs"][arm][0]
            lines.append(
                f"| {model} | {cadence} | {first['measured_steps'][0]}-{first['measured_steps'][1]} | "
                f"{fmt(row['mean_time_ratio'])} | {fmt(row['median_time_ratio'])} | "
                f"{fmt(row['estimated_time_ratio'])} | {fmt(row['memory_ratio'])} | "
                f"{fmt(row['train_memory_ratio'])} | {base['mean_step_time_s']:.3f}, {base['peak_memory_mb']:.0f} | "
                f"{base['median_entropy']:.3f} | "
                + ("-" if first["median_branching"] is None else f"{first['median_branching']:.1f}")
                + " |"
            )
    return "\n".join(lines)


def _git_state() -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*command):
        out = subprocess.run(["git", *command], cwd=root, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else None

    return {"commit": git("rev-parse", "HEAD"), "modified": git("status", "--short", "--untracked-files=no")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS), help="`none` is always run")
    parser.add_argument("--trainer", default="entropy", choices=["entropy", "paec"])
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: per model, see MODELS)")
    parser.add_argument("--warmup-steps", type=int, default=None, help="steps dropped (default: per model)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (and OMP_NUM_THREADS) per run")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default=None, help="JSON file for the results (a .md table is written beside it)")
    parser.add_argument("--model", choices=list(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=list(ARMS), help=argparse.SUPPRESS)
    parser.add_argument("--summarize", metavar="JSON", help="only rebuild the summary and table of a results file")
    args = parser.parse_args()
    if args.child:
        return run_one(args)
    if args.summarize:
        with open(args.summarize) as f:
            report = json.load(f)
        for result in report["results"].values():
            result["ratios"] = summarize(result["runs"], list(result["runs"]))
        _write(report, args.summarize)
        return print(markdown_table(report))

    import torch

    arms = ["none", *(arm for arm in args.arms if arm != "none")]
    schedule = {}
    for model in args.models:
        steps = args.steps if args.steps is not None else MODELS[model][0]
        warmup = args.warmup_steps if args.warmup_steps is not None else MODELS[model][1]
        if steps <= warmup:
            parser.error(f"{model}: --steps ({steps}) must be larger than --warmup-steps ({warmup})")
        schedule[model] = (steps, warmup)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
    device = (
        f"cuda: {torch.cuda.get_device_name(0)}"
        if torch.cuda.is_available()
        else f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s)"
    )
    settings = {k: v for k, v in vars(args).items() if k not in ("child", "model", "output")}
    settings.update(schedule={m: {"steps": s, "warmup_steps": w} for m, (s, w) in schedule.items()},
                    tiny=TINY_RECIPE, qwen2={**QWEN2, **QWEN2_BATCH, "logit_scale": QWEN2_LOGIT_SCALE})  # fmt: skip
    report = {"device": device, "settings": settings, "git": _git_state()}
    runs = {model: {arm: [] for arm in arms} for model in args.models}
    for repeat in range(args.repeats):
        order = arms[repeat % len(arms) :] + arms[: repeat % len(arms)]
        for model in args.models:
            steps, warmup = schedule[model]
            for arm in order:
                command = [sys.executable, os.path.abspath(__file__), f"--steps={steps}", f"--warmup-steps={warmup}",
                           f"--threads={args.threads}", f"--seed={args.seed}", f"--trainer={args.trainer}",
                           f"--model={model}", f"--child={arm}"]  # fmt: skip
                out = subprocess.run(command, capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    sys.exit(f"{model}/{arm} failed:\n{out.stderr[-4000:]}")
                result = json.loads(out.stdout.strip().splitlines()[-1])
                runs[model][arm].append(result)
                print(f"round {repeat + 1}: {model:12s} {arm:10s} median step {result['median_step_time_s']:.3f} s, "
                      f"mean {result['mean_step_time_s']:.3f} s, peak {result['peak_memory_mb']:.0f} MB "
                      f"(train +{result['train_memory_mb'] or 0:.0f} MB), analysed {result['analysed_steps']}",
                      flush=True)  # fmt: skip
        # after every round, so that an interrupted run keeps its finished rounds
        report.update(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), rounds_done=repeat + 1, results={})
        for model in args.models:
            base = runs[model]["none"]
            report["results"][model] = {
                "none": {key: statistics.median(r[key] for r in base)
                         for key in ("median_step_time_s", "mean_step_time_s", "peak_memory_mb", "median_entropy")},
                "ratios": summarize(runs[model], arms),
                "runs": runs[model],
            }  # fmt: skip
        if args.output:
            _write(report, args.output)
    print(markdown_table(report))


def _write(report: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.splitext(path)[0] + ".md", "w") as f:
        f.write(markdown_table(report) + "\n")


if __name__ == "__main__":
    main()

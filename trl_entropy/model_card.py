# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Model cards for checkpoints trained with trl-entropy trainers."""

import json
import os
import textwrap
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from huggingface_hub import ModelCard, ModelCardData
from trl import GRPOTrainer
from trl.trainer.utils import get_config_model_id

from .plotting import is_matplotlib_available, plot_training_curves
from .tasks.names import DATASET_NAME, TINY_POLICY_NAME, TINY_POLICY_PATH


if TYPE_CHECKING:
    from .entropy_grpo_trainer import EntropyGRPOTrainer


CURVES_FILENAME = "training_curves.png"
# Written by the recipe script next to the checkpoint; shown in the card when present.
TASK_EVAL_FILENAME = "task_eval.json"

# GRPO settings that decide what a run did; all of them go into the card.
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
    "max_completion_length",
    "temperature",
    "top_p",
    "loss_type",
    "scale_rewards",
    "beta",
    "epsilon",
    "epsilon_high",
    "importance_sampling_level",
    "entropy_coef",
    "top_entropy_quantile",
    "use_vllm",
    "seed",
)

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


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if hasattr(value, "value"):  # enums such as SchedulerType
        return str(value.value)
    return str(value)


def _table(rows: list[tuple[str, Any]], header: tuple[str, str]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| `{name}` | {_format_value(value)} |" for name, value in rows]
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


def build_model_card(
    trainer: "EntropyGRPOTrainer",
    model_name: str | None = None,
    dataset_name: str | None = None,
    tags: str | list[str] | None = None,
    curves_filename: str | None = None,
) -> ModelCard:
    r"""
    Build the model card of a trl-entropy trainer's output.

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

    Returns:
        [`~huggingface_hub.ModelCard`]: The card.
    """
    args = trainer.args
    model_name = model_name or os.path.basename(os.path.normpath(args.output_dir))
    model_id = get_config_model_id(trainer.model.config)
    # The Hub only understands repository ids as base_model; a local directory is named in the text instead.
    base_model = model_id if model_id and not os.path.isdir(model_id) else None
    if model_id and os.path.realpath(model_id) == os.path.realpath(TINY_POLICY_PATH):
        origin = f"`{TINY_POLICY_NAME}`, the tiny countdown policy shipped in `trl_entropy/policies/tiny_countdown`"
    elif model_id:
        origin = f"`{model_id}`"
    else:
        origin = "a model built from a config (no checkpoint name)"
    if dataset_name == DATASET_NAME:
        data_line = "Training data: the embedded countdown task (`trl_entropy.tasks.countdown`, train split)."
        dataset_name = None  # not a Hub dataset
    else:
        data_line = f"Training data: `{dataset_name}`." if dataset_name else None
    tag_set = {tags} if isinstance(tags, str) else set(tags or [])
    tag_set.update(trainer._tag_names)
    card_data = ModelCardData(
        base_model=base_model,
        datasets=[dataset_name] if dataset_name else None,
        library_name="transformers",
        model_name=model_name,
        pipeline_tag="text-generation",
        tags=sorted(tag_set),
    )

    # The papers of the trainer's shapers (several when methods are combined), else the trainer's own.
    papers = list({shaper.paper["id"]: shaper.paper for shaper in trainer.advantage_shapers if shaper.paper}.values())
    papers = papers or ([trainer._paper] if trainer._paper else [])
    method_rows = list(trainer.method_hyperparameters().items())
    grpo_rows = [(name, getattr(args, name)) for name in KEY_GRPO_FIELDS if hasattr(args, name)]
    grpo_rows.append(("world_size", args.world_size))
    peft_rows = _peft_rows(trainer.model)
    log_history = trainer.state.log_history

    sections = [f"# {model_name}"]
    sections.append(
        f"This model was trained from {origin} with **{trainer._name}** "
        f"(`{type(trainer).__name__}` of [trl-entropy](https://pypi.org/project/trl-entropy/), built on TRL's "
        "`GRPOTrainer`)."
        + "".join(f" Method paper: [{p['title']}](https://huggingface.co/papers/{p['id']})." for p in papers)
    )
    sections.append(
        "## Training\n\n### Method hyperparameters\n\n"
        + (_table(method_rows, ("parameter", "value")) if method_rows else "None: plain GRPO.")
    )
    sections.append("### GRPO hyperparameters\n\n" + _table(grpo_rows, ("parameter", "value")))
    if peft_rows:
        sections.append("### Adapter\n\n" + _table(peft_rows, ("parameter", "value")))
    rewards = ", ".join(f"`{name}`" for name in getattr(trainer, "reward_func_names", [])) or "none"
    sections.append(
        "### Data and rewards\n\n" + (f"{data_line}\n" if data_line else "") + f"Reward functions: {rewards}."
    )

    summary = [
        (key, value)
        for key in ("reward", "entropy", "completions/mean_length")
        if (value := _final_value(log_history, key)) is not None
    ]
    results = f"Trained for {trainer.state.global_step} optimizer steps."
    if summary:
        results += " Last logged values:\n\n" + _table(summary, ("metric", "value"))
    task_eval_path = os.path.join(args.output_dir, TASK_EVAL_FILENAME)
    if os.path.isfile(task_eval_path):
        with open(task_eval_path) as f:
            task_eval = json.load(f)
        results += "\n\nEvaluation on the held-out split of the training task:\n\n" + _table(
            [(key, value) for key, value in task_eval.items() if isinstance(value, int | float)],
            ("metric", "value"),
        )
    plateau_step = trainer.stage_detector.plateau_step
    results += "\n\nStage detector: " + (
        f"plateau from step {plateau_step} (dashed line on the curves)."
        if plateau_step is not None
        else "no plateau declared."
    )
    if curves_filename:
        results += f"\n\n![Training curves]({curves_filename})"
    sections.append("## Results\n\n" + results)

    versions = ", ".join(
        f"{name} {_package_version(name)}"
        for name in ("trl-entropy", "trl", "transformers", "torch", "accelerate", "peft", "datasets")
    )
    sections.append(f"## Framework versions\n\n{versions}")

    citations = [p["citation"] for p in papers if p.get("citation")]
    citations += [GRPOTrainer._paper["citation"], TRL_CITATION]
    citations.append(TRL_ENTROPY_CITATION)
    sections.append("## Citation\n\n" + "\n\n".join(f"```bibtex\n{c}\n```" for c in dict.fromkeys(citations)))

    content = f"---\n{card_data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n"
    return ModelCard(content)


def write_model_card(
    trainer: "EntropyGRPOTrainer",
    model_name: str | None = None,
    dataset_name: str | None = None,
    tags: str | list[str] | None = None,
) -> str:
    r"""
    Write `README.md` into the trainer's `output_dir`, and the training curves as a PNG when matplotlib is installed
    and something was logged.

    Returns:
        `str`: Path of the card.
    """
    output_dir = trainer.args.output_dir
    os.makedirs(output_dir, exist_ok=True)
    curves = None
    if is_matplotlib_available() and trainer.state.log_history:
        try:
            plot_training_curves(
                trainer.state.log_history,
                os.path.join(output_dir, CURVES_FILENAME),
                title=trainer._name,
                stage_boundary=trainer.stage_detector.plateau_step,
            )
            curves = CURVES_FILENAME
        except ValueError:  # nothing plottable logged yet
            curves = None
    card = build_model_card(
        trainer, model_name=model_name, dataset_name=dataset_name, tags=tags, curves_filename=curves
    )
    path = os.path.join(output_dir, "README.md")
    card.save(path)
    return path

# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""A model card written into a folder: the trainer's inputs ([`~trl_entropy.model_card.card_inputs`]), the curves
([`~trl_entropy.model_card.write_curves`]) and the evaluations of the folder's weights, rendered by
[`~trl_entropy.model_card.render_model_card`]; and the same card rebuilt later from the saved files alone.
"""

import json
import os
import warnings
from typing import Any

from huggingface_hub import ModelCard

from ..plotting import is_matplotlib_available
from .curves import saved_curves, write_curves
from .files import CARD_FILENAME, CARD_INPUTS_FILENAME
from .inputs import CardTrainer, card_inputs, folder_weights, load_card_inputs, select_analysis, select_evaluations
from .render import render_model_card


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
    trainer: CardTrainer,
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
        trainer ([`~trl_entropy.model_card.inputs.CardTrainer`]):
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
    trainer: CardTrainer,
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
        trainer ([`~trl_entropy.model_card.inputs.CardTrainer`]):
            The trainer, any trl-entropy trainer.
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
    inputs, log_history = load_card_inputs(output_dir, model_name=model_name)
    if is_matplotlib_available():
        curves = write_curves(
            output_dir, log_history, title=inputs.get("method"), stage_boundary=inputs.get("plateau_step")
        )
    else:  # keep showing the PNGs written at save time
        curves = saved_curves(output_dir)
    return _save_card(output_dir, inputs, log_history, curves)


__all__ = ["build_model_card", "refresh_model_card", "write_model_card"]

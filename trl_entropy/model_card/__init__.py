# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Model cards for checkpoints trained with trl-entropy trainers.

A card is made in two steps, so that it can be rebuilt without the trainer (e.g. after an evaluation):

1. [`card_inputs`] reads everything the card needs from the live trainer into a JSON-serialisable dict, saved as
   `trl_entropy_card.json` next to the card;
2. [`render_model_card`] turns that dict, the log history, the evaluations and the curve PNGs into the card.

[`write_model_card`] does both for a trainer (every save of every trl-entropy trainer, checkpoints included), and
[`refresh_model_card`] (`trl-entropy card OUTPUT_DIR`) redoes step 2 from the files of a saved run.

The modules: `inputs` (the only code that reads a trainer, through [`CardTrainer`], and the loading of a run's saved
files), `render` (the README from plain data), `curves` (the curve PNGs from a log history), `files` (the names of
the files of a card's folder) and `card` (the three put together into a folder). None of them imports a trainer
module or a method package: a method describes itself through `card_method_info`. Every name is importable from
`trl_entropy.model_card`.
"""

from .card import build_model_card, refresh_model_card, write_model_card
from .curves import METHOD_METRIC_PREFIX, NOT_PLOTTED, saved_curves, write_curves
from .files import (
    ANALYSIS_DIRNAME,
    ANALYSIS_SUMMARY_FILENAME,
    CARD_FILENAME,
    CARD_INPUTS_FILENAME,
    CARD_INPUTS_VERSION,
    CURVES_FILENAME,
    EVAL_DIRNAME,
    EVAL_SUMMARY_FILENAME,
    METHOD_CURVES_FILENAME,
    TASK_EVAL_FILENAME,
)
from .inputs import (
    DECODING_FIELDS,
    FRAMEWORKS,
    KEY_GRPO_FIELDS,
    LOCAL_DATASET_PREFIX,
    SMOLLM2_HUB_ID,
    SMOLLM2_LICENSE,
    TINY_POLICY_LICENSE,
    CardTrainer,
    card_inputs,
    describe_base_model,
    folder_weights,
    load_analysis_summary,
    load_card_inputs,
    load_evaluations,
    load_task_eval,
    load_trainer_state,
    select_analysis,
    select_evaluations,
)
from .render import (
    ANALYSIS_MAIN_METRICS,
    CLAIM_VERDICTS,
    SUMMARY_KEYS,
    TASK_EVAL_ROWS,
    TASK_EVAL_SETTINGS,
    TRL_CITATION,
    TRL_ENTROPY_CITATION,
    _eval_results,  # noqa: F401  (used by tests/test_eval_any_task.py)
    render_model_card,
)


__all__ = [
    "CARD_INPUTS_FILENAME",
    "CardTrainer",
    "build_model_card",
    "card_inputs",
    "describe_base_model",
    "folder_weights",
    "load_analysis_summary",
    "load_card_inputs",
    "load_evaluations",
    "load_task_eval",
    "load_trainer_state",
    "refresh_model_card",
    "render_model_card",
    "saved_curves",
    "select_analysis",
    "select_evaluations",
    "write_curves",
    "write_model_card",
]

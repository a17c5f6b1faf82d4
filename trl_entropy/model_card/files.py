# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The layout of a card's folder: the names of the files a card is written to and read from.

A leaf module (no imports), shared by [`~trl_entropy.model_card.inputs`] (which reads the saved files),
[`~trl_entropy.model_card.render`] (which names them in the card) and [`~trl_entropy.model_card.curves`].
"""

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

__all__ = [
    "ANALYSIS_DIRNAME",
    "ANALYSIS_SUMMARY_FILENAME",
    "CARD_FILENAME",
    "CARD_INPUTS_FILENAME",
    "CARD_INPUTS_VERSION",
    "CURVES_FILENAME",
    "EVAL_DIRNAME",
    "EVAL_SUMMARY_FILENAME",
    "METHOD_CURVES_FILENAME",
    "TASK_EVAL_FILENAME",
]

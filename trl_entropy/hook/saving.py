# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`CardSaving`: every save of a trl-entropy trainer writes the model card next to the weights it saved."""

import contextlib
import json
import os
import re
import shutil

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, HubStrategy

from ..model_card import (
    CARD_FILENAME,
    CARD_INPUTS_FILENAME,
    CURVES_FILENAME,
    METHOD_CURVES_FILENAME,
    describe_base_model,
    write_model_card,
)


class CardSaving:
    """A mixin before `GRPOTrainer`: `save_model`, checkpoints and pushes write the card (`README.md`, its inputs and
    curves) next to the weights; the card itself comes from [`~trl_entropy.model_card`], which the trainer feeds with
    `card_method_info()` and plain attributes."""

    def create_model_card(
        self,
        model_name: str | None = None,
        dataset_name: str | None = None,
        tags: str | list[str] | None = None,
    ):
        r"""
        Write `README.md`, the curve PNGs it shows (when matplotlib is installed) and the inputs it was made from
        (`trl_entropy_card.json`, for `trl-entropy card`) into `output_dir`. `save_model` already writes the card
        next to the weights it saves; TRL's call from `_save_checkpoint` (into `output_dir`, which holds none of that
        checkpoint's weights) is skipped.

        Replaces TRL's card, whose template TRL only looks up inside its own package. The card names the method, its
        paper and citation, the method and key GRPO hyperparameters, the decoding settings, the base model, the
        reward functions, the curves and the evaluations in `output_dir` of the weights there (see
        `docs/model_cards.md`).

        Args:
            model_name (`str`, *optional*):
                Name of the model, remembered for the later cards; defaults to the name recorded in `output_dir`'s
                `trl_entropy_card.json`, else the Hub repository's, else the name of `output_dir`.
            dataset_name (`str`, *optional*):
                Name of the training dataset; remembered as `model_card_dataset_name` for the later cards (TRL's
                checkpoint saves name none).
            tags (`str` or `list[str]`, *optional*):
                Extra tags.
        """
        if dataset_name is not None:
            self.model_card_dataset_name = dataset_name
        if getattr(self, "_saving_checkpoint", False):
            # TRL's `_save_checkpoint` calls this first, to write a card into `output_dir` before the checkpoint's
            # weights exist, and they are saved into `checkpoint-<step>/`, not `output_dir`: that card would describe
            # weights that are not next to it. The checkpoint's card is written next to its weights by `save_model`.
            return
        if model_name is not None:
            self.model_card_model_name = model_name
        if tags is not None:
            self.model_card_tags = tags
        if not self.is_world_process_zero():
            return
        output_dir = self.args.output_dir
        write_model_card(self, model_name=self._card_model_name(output_dir), dataset_name=dataset_name,
                         tags=getattr(self, "model_card_tags", None), output_dir=output_dir)  # fmt: skip

    def _card_model_name(self, output_dir: str) -> str:
        """The name a card in `output_dir` gets: one given to `create_model_card`, else the one recorded there (e.g.
        by `trl-entropy card --model-name`), else the Hub repository's, else the folder's (the run's for a
        checkpoint)."""
        if getattr(self, "model_card_model_name", None):
            return self.model_card_model_name
        with contextlib.suppress(OSError, ValueError, AttributeError):
            with open(os.path.join(output_dir, CARD_INPUTS_FILENAME)) as f:
                recorded = json.load(f).get("model_name")
            if isinstance(recorded, str) and recorded:
                return recorded
        if self.args.hub_model_id:
            return self.args.hub_model_id.split("/")[-1]
        folder = os.path.basename(os.path.normpath(output_dir))
        if re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-\d+", folder):
            return os.path.basename(os.path.normpath(self.args.output_dir))
        return folder

    def _save_extra_weights(self, output_dir: str) -> None:
        """Save weights besides the policy's into a folder the model was just saved to (PPO's critic); called by
        `save_model` on every process, before the card is written."""

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """
        Save the model (and, for subclasses, e.g. PPO's critic) to `output_dir`, then write its card next to it on
        the main process: `README.md`, `trl_entropy_card.json` and the curve PNGs. Every save path writes one card,
        once: a final `save_model`, every `checkpoint-<step>` (`_save_checkpoint` calls this), `push_to_hub`.
        """
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        # `_internal_call=True` only stops the Trainer pushing at the end of its `save_model`: the push comes below,
        # once the card is written.
        super().save_model(output_dir, _internal_call=True)
        self._save_extra_weights(output_dir)
        if self.is_world_process_zero() and os.path.isdir(output_dir):
            self._make_adapter_config_portable(output_dir)
            write_model_card(self, model_name=self._card_model_name(output_dir),
                             tags=getattr(self, "model_card_tags", None), output_dir=output_dir)  # fmt: skip
        if self.args.push_to_hub and not _internal_call:
            self.push_to_hub(commit_message="Model save", revision=self.args.hub_revision)

    def _make_adapter_config_portable(self, output_dir: str) -> None:
        # PEFT records the base model's local path (often a temporary or cache folder) in `adapter_config.json`;
        # name it as the card does instead: a Hub id, or a name such as `trl-entropy/tiny-countdown`.
        path = os.path.join(output_dir, "adapter_config.json")
        if not os.path.isfile(path):
            return
        with open(path) as f:
            config = json.load(f)
        base = config.get("base_model_name_or_path")
        if not isinstance(base, str) or not (os.path.isabs(base) or os.path.isdir(base)):
            return
        config["base_model_name_or_path"] = describe_base_model(base)["portable_name"]
        with open(path, "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)

    def _save_checkpoint(self, model, trial):
        # `save_model` writes each `checkpoint-<step>`'s card next to its weights; TRL's own card (into `output_dir`,
        # which holds no weights of this checkpoint) is skipped, see `create_model_card`.
        self._saving_checkpoint = True
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._saving_checkpoint = False

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        # The Trainer copies the checkpoint's weights into `output_dir` and uploads that folder: the checkpoint's card
        # goes with them (same conditions as the Trainer's for pushing at all).
        args = self.args
        push_busy = (
            not args.hub_always_push and self.push_in_progress is not None and not self.push_in_progress.is_done()
        )
        if self.is_world_process_zero() and args.hub_strategy != HubStrategy.END and not push_busy:
            for name in (CARD_FILENAME, CARD_INPUTS_FILENAME, CURVES_FILENAME, METHOD_CURVES_FILENAME):
                if os.path.isfile(os.path.join(checkpoint_folder, name)):
                    shutil.copy(os.path.join(checkpoint_folder, name), os.path.join(args.output_dir, name))
        super()._push_from_checkpoint(checkpoint_folder)

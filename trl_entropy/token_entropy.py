# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Per-token entropies of sampled completions, recorded during training, and an HTML page that colours each token by
its entropy.

[`TokenEntropyRecorder`] is a callback: pass it to any trl-entropy trainer in `callbacks=[...]`. Every
`every_n_steps` optimizer steps, the trainer hands it the completions of the first micro-batch of that step together
with the full-vocabulary entropies the policy forward of the loss computed for them (no extra forward), and it appends
one JSON line per completion to `token_entropies.jsonl`. [`write_token_entropy_html`] turns that file into a single
self-contained HTML page (`trl-entropy token-html RUN_DIR/token_entropies.jsonl`).
"""

import html
import json
import math
import os
from collections.abc import Iterable
from typing import Any

import torch
from transformers import TrainerCallback

from .hook.component import OBSERVER_ORDER, Component
from .hook.context import COMPLETION_REWARDS_KEY


TOKEN_ENTROPIES_FILENAME = "token_entropies.jsonl"


class TokenEntropyRecorder(TrainerCallback):
    r"""
    Record the per-token entropies of a few sampled completions during training, as JSON lines.

    At step 1 and every `every_n_steps` optimizer steps after it, the first `num_completions` completions of the first
    micro-batch of the step on the main process are written to `path`, one line per completion:

    ```json
    {"step": 50, "tokens": ["3", "+"], "entropies": [0.41, 1.27], "reward": 1.0, "advantage": 0.87, "prompt": "..."}
    ```

    `step` is the optimizer step being trained, as numbered in `trainer_state.json`'s `log_history` (whose `entropy`
    at that step is the mean of the same entropies over all completion tokens of the step). `entropies` are the
    full-vocabulary entropies, in nats, of the policy at each completion position, taken from the forward pass of the
    loss (no extra forward, training numerics unchanged). `tokens` are the completion tokens the loss sees (padding
    and tool-result tokens left out), each decoded on its own, so a character split over several byte-level tokens
    shows as `�`. `reward` is the completion's reward (the weighted sum of the reward functions, as TRL computes it),
    when the trainer passes it; `advantage` is TRL's advantage of the completion (before any shaping by the method);
    `prompt` is the decoded prompt.

    Only [`~trl_entropy.EntropyGRPOTrainer`] and its subclasses feed the recorder. A training run from scratch starts
    the file afresh; a resumed run keeps the lines up to the checkpoint's step.

    Args:
        every_n_steps (`int`, *optional*, defaults to `50`):
            Record at step 1 and at every multiple of this many optimizer steps.
        num_completions (`int`, *optional*, defaults to `4`):
            Completions recorded per recorded step (at most the per-device batch size).
        path (`str`, *optional*):
            JSONL file to append to. Defaults to `<output_dir>/token_entropies.jsonl`.

    Example:

    ```python
    from trl_entropy import EntropyAdvantageGRPOTrainer
    from trl_entropy.token_entropy import TokenEntropyRecorder, write_token_entropy_html

    trainer = EntropyAdvantageGRPOTrainer(..., callbacks=[TokenEntropyRecorder(every_n_steps=25)])
    trainer.train()
    write_token_entropy_html(f"{trainer.args.output_dir}/token_entropies.jsonl", "token_entropies.html")
    ```
    """

    def __init__(self, every_n_steps: int = 50, num_completions: int = 4, path: str | None = None):
        if not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"`every_n_steps` must be an integer >= 1, got {every_n_steps!r}.")
        if not isinstance(num_completions, int) or num_completions < 1:
            raise ValueError(f"`num_completions` must be an integer >= 1, got {num_completions!r}.")
        self.every_n_steps = every_n_steps
        self.num_completions = num_completions
        self.path = path
        self.resolved_path: str | None = path
        # Last step recorded: later micro-batches (gradient accumulation) of the same step are skipped.
        self._last_step: int | None = None

    def trainer_component(self, args: Any) -> "TokenRecording":
        """The component that feeds this recorder from the trainer's loss passes (added by the trainer)."""
        return TokenRecording(args, self)

    def on_train_begin(self, args, state, control, **kwargs):
        self.resolved_path = self.path or os.path.join(args.output_dir, TOKEN_ENTROPIES_FILENAME)
        self._last_step = state.global_step
        if state.is_world_process_zero:
            drop_records_after(self.resolved_path, state.global_step)

    def wants_step(self, step: int) -> bool:
        """Whether `step` (1-based optimizer step) is to be recorded and has not been yet."""
        return step != self._last_step and (step == 1 or step % self.every_n_steps == 0)

    def record_batch(
        self,
        step: int,
        processing_class,
        completion_ids: torch.Tensor,
        entropies: torch.Tensor,
        mask: torch.Tensor,
        advantages: torch.Tensor | None = None,
        prompt_ids: torch.Tensor | None = None,
        prompt_mask: torch.Tensor | None = None,
        rewards: torch.Tensor | None = None,
    ) -> list[dict[str, Any]]:
        r"""
        Append the first `num_completions` completions of a micro-batch to the JSONL file. Called by the trainer.

        Args:
            step (`int`):
                Optimizer step being trained (1-based).
            processing_class (`PreTrainedTokenizerBase` or `ProcessorMixin`):
                Decodes the token ids.
            completion_ids (`torch.Tensor`):
                Completion token ids, `(B, T)`.
            entropies (`torch.Tensor`):
                Per-token entropies, `(B, T)`, detached.
            mask (`torch.Tensor`):
                Mask of the tokens the loss sees, `(B, T)`.
            advantages (`torch.Tensor`, *optional*):
                TRL's advantages, `(B,)` or `(B, T)` (then the masked mean per completion is recorded).
            prompt_ids (`torch.Tensor`, *optional*):
                Prompt token ids, `(B, P)`, left-padded.
            prompt_mask (`torch.Tensor`, *optional*):
                Mask of the prompt tokens, `(B, P)`.
            rewards (`torch.Tensor`, *optional*):
                Reward of each completion, `(B,)`; a NaN (no reward function scored it) is recorded as `null`.

        Returns:
            `list[dict[str, Any]]`: The records written.
        """
        self._last_step = step
        tokenizer = getattr(processing_class, "tokenizer", processing_class)  # a processor wraps its tokenizer
        n = min(self.num_completions, completion_ids.size(0))
        # One copy to the CPU of the few rows recorded.
        ids, ent, keep = completion_ids[:n].cpu(), entropies[:n].float().cpu(), mask[:n].cpu() > 0
        records = []
        for i in range(n):
            token_ids = ids[i][keep[i]].tolist()
            record = {
                "step": step,
                "tokens": [tokenizer.decode([token_id], skip_special_tokens=False) for token_id in token_ids],
                "entropies": [round(value, 6) for value in ent[i][keep[i]].tolist()],
            }
            if rewards is not None:
                reward = float(rewards[i])
                record["reward"] = round(reward, 6) if math.isfinite(reward) else None
            if advantages is not None:
                advantage = advantages[i].float().cpu()
                if advantage.dim() > 0:
                    advantage = advantage[keep[i]].mean() if keep[i].any() else advantage.new_tensor(math.nan)
                record["advantage"] = round(advantage.item(), 6)
            if prompt_ids is not None:
                prompt = prompt_ids[i].cpu()
                if prompt_mask is not None:
                    prompt = prompt[prompt_mask[i].cpu() > 0]
                record["prompt"] = tokenizer.decode(prompt.tolist(), skip_special_tokens=False)
            records.append(record)
        if self.resolved_path is None:
            raise RuntimeError("`TokenEntropyRecorder` received a batch before `on_train_begin` set its path.")
        os.makedirs(os.path.dirname(os.path.abspath(self.resolved_path)), exist_ok=True)
        with open(self.resolved_path, "a") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return records


class TokenRecording(Component):
    """Feeds a [`TokenEntropyRecorder`] with the detached entropies of the policy forward of the steps it records,
    before shaping (the advantages recorded are TRL's), on the main process, in training only."""

    name = "token_entropy_recorder"
    order = OBSERVER_ORDER
    allow_several = True  # one per recorder (e.g. two recording at different intervals)

    def __init__(self, args: Any, recorder: TokenEntropyRecorder):
        super().__init__(args)
        self.recorder = recorder

    def on_generation(self, ctx, batch, rows) -> None:
        ctx.add_completion_rewards(batch)

    def on_forward(self, ctx, forward) -> None:
        if not (ctx.training and ctx.is_main_process) or not self.recorder.wants_step(ctx.step):
            return
        inputs = forward.inputs
        self.recorder.record_batch(
            ctx.step,
            ctx.processing_class,
            inputs["completion_ids"],
            forward.entropies.detach(),
            forward.mask,
            advantages=inputs.get("advantages"),
            prompt_ids=inputs.get("prompt_ids"),
            prompt_mask=inputs.get("prompt_mask"),
            rewards=inputs.get(COMPLETION_REWARDS_KEY),
        )


def drop_records_after(path: str, global_step: int) -> None:
    """
    Ready a per-step JSONL file (records with a `step`) for a `train()` that starts at `global_step`: from scratch
    (`0`) the records of an earlier run in the same directory go; resumed, those of the steps after the checkpoint go,
    since they are trained again. Nothing happens when the file does not exist.
    """
    if not os.path.isfile(path):
        return
    kept = []
    if global_step > 0:
        with open(path) as f:
            kept = [line for line in f if line.strip() and json.loads(line)["step"] <= global_step]
    with open(path, "w") as f:
        f.writelines(kept)


def load_token_entropies(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read the records of a JSONL file written by [`TokenEntropyRecorder`]."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def entropy_color(entropy: float, max_entropy: float) -> str:
    r"""
    Background colour of a token on the page's scale: white at entropy 0, pure red (`#ff0000`) at `max_entropy` and
    above, linear in between (the green and blue channels fall from 255 to 0).

    Args:
        entropy (`float`):
            Entropy of the token, in nats.
        max_entropy (`float`):
            Entropy of the darkest colour.

    Returns:
        `str`: A CSS colour `#rrggbb`.
    """
    level = 0.0 if not math.isfinite(entropy) else min(max(entropy / max_entropy, 0.0), 1.0)
    channel = round(255 * (1.0 - level))
    return f"#ff{channel:02x}{channel:02x}"


def _percentile(values: list[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `values`, interpolated linearly between order statistics."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _visible(token: str) -> str:
    """Token text as HTML with whitespace made visible: `↵` before a kept line break, `→` before a tab, `␍` for a
    carriage return, `∅` for a token that decodes to nothing. Spaces stay spaces (the coloured background shows them).
    """
    if token == "":
        return '<span class="empty">∅</span>'
    text = html.escape(token)
    return text.replace("\r", "␍").replace("\t", "→\t").replace("\n", "↵\n")


_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
.legend { display: flex; align-items: center; gap: 0.6em; margin: 0.5em 0 1.5em; font-size: 0.9em; }
.bar { width: 16em; height: 1em; border: 1px solid #aaa; background: linear-gradient(to right, #ffffff, #ff0000); }
.completion { border: 1px solid #ddd; border-radius: 4px; padding: 0.5em 0.7em; margin: 0.6em 0; }
.meta { font-size: 0.85em; color: #555; margin-bottom: 0.3em; }
.text { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; line-height: 1.6; }
.t { border-radius: 2px; }
.empty { color: #999; }
.correct { color: #1a7f37; font-weight: bold; }
.wrong { color: #cf222e; font-weight: bold; }
details { font-size: 0.85em; color: #555; margin-bottom: 0.3em; }
details pre { white-space: pre-wrap; margin: 0.3em 0; }
"""


def write_token_entropy_html(
    records: Iterable[dict[str, Any]] | str | os.PathLike,
    output: str | os.PathLike,
    max_entropy: float | None = None,
    title: str | None = None,
) -> str:
    r"""
    Write a self-contained HTML page (inline CSS, no script, no external resource) colouring each token of the
    recorded completions by its entropy, grouped by step.

    Colour scale: white at entropy 0 to pure red at `max_entropy` and above, linear in between (see
    [`entropy_color`]); hovering a token shows its entropy. Line breaks show as `↵`, tabs as `→`, tokens that decode
    to nothing as `∅`. Each completion shows its reward when recorded, and whether it was correct: a ✓ or ✗ from its
    `correct` field if it has one, else from its reward when every recorded reward is 0 or 1 (a verifiable reward,
    such as the countdown task's, is correctness itself); rewards on any other scale show as numbers only.

    Args:
        records (`Iterable[dict[str, Any]]` or `str`):
            Records as written by [`TokenEntropyRecorder`] (`step`, `tokens`, `entropies`, optionally `reward`,
            `correct`, `advantage` and `prompt`), or the path of its JSONL file.
        output (`str` or `os.PathLike`):
            HTML file to write.
        max_entropy (`float`, *optional*):
            Entropy (nats) of the darkest colour. Defaults to the 99th percentile of all recorded entropies, so that a
            few outliers do not wash out the page.
        title (`str`, *optional*):
            Page title. Defaults to "Token entropies".

    Returns:
        `str`: The path written.
    """
    if isinstance(records, str | os.PathLike):
        records = load_token_entropies(records)
    records = list(records)
    for record in records:
        if len(record["tokens"]) != len(record["entropies"]):
            raise ValueError(
                f"A record of step {record.get('step')} has {len(record['tokens'])} tokens but "
                f"{len(record['entropies'])} entropies."
            )
    values = [value for record in records for value in record["entropies"] if math.isfinite(value)]
    if max_entropy is None:
        max_entropy = _percentile(values, 99) if values else 1.0
    if not max_entropy > 0:  # all-zero entropies (or a non-positive argument): any positive scale draws them white
        max_entropy = 1.0
    title = title or "Token entropies"
    rewards = [record.get("reward") for record in records]
    binary_rewards = any(reward is not None for reward in rewards) and all(
        reward in (0, 1) for reward in rewards if reward is not None
    )

    def correct(record: dict[str, Any]) -> bool | None:
        if isinstance(record.get("correct"), bool):
            return record["correct"]
        if binary_rewards and record.get("reward") is not None:
            return record["reward"] == 1
        return None

    marks = [correct(record) for record in records]
    num_marked = sum(mark is not None for mark in marks)
    correct_note = f", {sum(mark is True for mark in marks)}/{num_marked} correct" if num_marked else ""

    by_step: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        by_step.setdefault(record["step"], []).append(record)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        '<div class="legend">entropy (nats): <span>0</span><span class="bar"></span>'
        f"<span>&ge; {max_entropy:.3g}</span> <span>(white to red, linear; hover a token for its value; "
        f"{len(records)} completion(s){correct_note}, {len(values)} token(s))</span></div>",
    ]
    for step in sorted(by_step):
        step_marks = [correct(record) for record in by_step[step]]
        marked = [mark for mark in step_marks if mark is not None]
        step_note = f" ({sum(marked)}/{len(marked)} correct)" if marked else ""
        parts.append(f'<h2 id="step-{step}">Step {step}{step_note}</h2>')
        for record, mark in zip(by_step[step], step_marks, strict=True):
            entropies = record["entropies"]
            finite = [value for value in entropies if math.isfinite(value)]
            meta = [f"{len(entropies)} tokens"]
            if record.get("reward") is not None:
                meta.insert(0, f"reward {record['reward']:+.3f}")
            if finite:
                meta.append(f"mean entropy {sum(finite) / len(finite):.3f}")
            if record.get("advantage") is not None:
                meta.append(f"advantage {record['advantage']:+.3f}")
            parts.append('<div class="completion">')
            badge = ""
            if mark is not None:
                badge = '<span class="correct">✓ correct</span> ' if mark else '<span class="wrong">✗ wrong</span> '
            parts.append(f'<div class="meta">{badge}{html.escape(", ".join(meta))}</div>')
            if record.get("prompt"):
                parts.append(f"<details><summary>prompt</summary><pre>{html.escape(record['prompt'])}</pre></details>")
            spans = []
            for token, entropy in zip(record["tokens"], entropies, strict=True):
                color = entropy_color(entropy, max_entropy)
                # Dark red backgrounds need light text to stay readable.
                text_color = "#fff" if math.isfinite(entropy) and entropy / max_entropy > 0.7 else "#000"
                spans.append(
                    f'<span class="t" style="background:{color};color:{text_color}" title="{entropy:.4f}">'
                    f"{_visible(token)}</span>"
                )
            parts.append(f'<div class="text">{"".join(spans)}</div>')
            parts.append("</div>")
    parts.append("</body></html>")
    output = os.fspath(output)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")
    return output


__all__ = [
    "TOKEN_ENTROPIES_FILENAME",
    "TokenEntropyRecorder",
    "entropy_color",
    "load_token_entropies",
    "write_token_entropy_html",
]

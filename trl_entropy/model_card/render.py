# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Rendering a model card from plain data: the README's front matter (`model-index` included) and text, with its
tables (hyperparameters, evaluations, the recipe script's held-out evaluation, the entropy analysis).

Takes no trainer: [`render_model_card`] reads the JSON-serialisable inputs of [`~trl_entropy.model_card.card_inputs`]
(or a saved `trl_entropy_card.json`), a log history and the saved evaluations.
"""

import math
import re
import textwrap
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..fingerprint import short_fingerprint
from .files import ANALYSIS_DIRNAME, ANALYSIS_SUMMARY_FILENAME, TASK_EVAL_FILENAME


# Keys of the log history summarised in the card (their last logged values).
SUMMARY_KEYS = ("reward", "entropy", "completions/mean_length")


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


def _final_value(log_history: list[dict[str, Any]], key: str) -> float | None:
    for entry in reversed(log_history):
        if isinstance(entry.get(key), int | float):
            return entry[key]
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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


def _papers_sentence(papers: list[dict[str, Any]]) -> str:
    """ " Method paper: [title](link)." for one paper, " Method papers: [a](...); [b](...)." for several (composed
    methods)."""
    links = [f"[{paper['title']}](https://huggingface.co/papers/{paper['id']})" for paper in papers]
    if not links:
        return ""
    return f" Method paper{'s' if len(links) > 1 else ''}: {'; '.join(links)}."


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
        + _papers_sentence(papers)
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
            "\n\nStage detector (arXiv 2508.02260; attached to log `entropy/stage`, e.g. by the analysis callback; "
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


__all__ = ["render_model_card"]

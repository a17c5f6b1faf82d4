# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`trl-entropy analyze`: every analysis quantity on a run's checkpoint, written to `<run>/analysis/`.

For each run: completions are sampled from its weights on its task (the evaluator's seeded, resumable chunk loop),
scored in one forward each (entropy, gradient-norm proxy, branching factor, from the hidden states and the LM head in
tiles), graded, and aggregated (positional profiles, roles, quality, exploration behaviours, rare behaviours against
the base model's completions, performance impact on a budget of positions); the training-time records of
`EntropyAnalysisCallback` and the log history give the stages. `summary.json` holds the numbers and the verdict on
each claim of the seeds; `figures/` and `report.html` show them. With several runs, the figures and the report draw
them side by side.
"""

import glob
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .batch import add_sums, analysis_metrics, analysis_profiles, batch_analysis_sums
from .callback import ANALYSIS_FILENAME, load_analysis_records
from .text import behaviour_sums, sentence_token_index


ANALYSIS_DIRNAME = "analysis"
SAMPLES_FILENAME = "samples.jsonl"
BASE_SAMPLES_FILENAME = "base_samples.jsonl"
IMPACT_FILENAME = "impact.jsonl"
SETTINGS_FILENAME = "settings.json"
SUMMARY_FILENAME = "summary.json"
REPORT_FILENAME = "report.html"
# Share of the measured positions called high-entropy when comparing their impact with the others'.
HIGH_ENTROPY_SHARE = 0.2
# The tasks a run's card names in its verifier, and the benchmark that samples them.
_TASK_MODULES = {"trl_entropy.tasks.countdown_steps": "countdown-steps", "trl_entropy.tasks.countdown": "countdown"}


class AnalysisInputError(ValueError):
    """A run or an option `trl-entropy analyze` cannot use."""


# ---------------------------------------------------------------------------------------------------------------------
# Small statistics
# ---------------------------------------------------------------------------------------------------------------------


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):  # ties share their mean rank
            ranks[order[position]] = (start + end) / 2
        start = end + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman rank correlation (ties get their mean rank); NaN with fewer than 3 points or a constant input."""
    if len(xs) != len(ys):
        raise ValueError(f"`xs` and `ys` must have the same length, got {len(xs)} and {len(ys)}.")
    if len(xs) < 3:
        return math.nan
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / math.sqrt(vx * vy) if vx > 0 and vy > 0 else math.nan


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Slope of the least-squares line of `ys` on `xs`; NaN with fewer than 2 distinct `xs`."""
    if len(xs) < 2:
        return math.nan
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    vx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / vx if vx > 0 else math.nan


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def group_advantages(rewards: Sequence[float]) -> list[float]:
    """GRPO's advantages of one prompt's completions: `(r - mean) / (std + 1e-4)`, std unbiased (TRL's default)."""
    n = len(rewards)
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (n - 1)) if n > 1 else 0.0
    return [(r - mean) / (std + 1e-4) for r in rewards]


# ---------------------------------------------------------------------------------------------------------------------
# Sampling and scoring
# ---------------------------------------------------------------------------------------------------------------------


def score_completions(
    model,
    tokenizer,
    sequences: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    temperature: float,
    top_p: float = 0.95,
    batch_size: int = 32,
) -> list[dict[str, list[float]]]:
    r"""
    Per-token entropy, \\(\|e(o_t) - \pi_t\|\\), \\(\|h_t\|\\) and branching factor of completions, in one forward each
    (left padding, position ids from the mask), from the final hidden states and the LM head in tiles: no
    `(B, T, V)` logits.

    Args:
        model: The causal LM. tokenizer: Its tokenizer (padding id).
        sequences (`Sequence[tuple]`): `(prompt_ids, completion_ids)` pairs.
        temperature (`float`): The sampling temperature the distribution is taken at.
        top_p (`float`, *optional*, defaults to `0.95`): Nucleus mass of the branching factor.
        batch_size (`int`, *optional*, defaults to `32`): Sequences per forward.

    Returns:
        `list[dict]`: Per sequence, lists of `len(completion_ids)` values: `entropy`, `direction_norm`,
        `hidden_norm`, `branching`.
    """
    import torch

    from ..hook.policy import policy_modules, with_full_lm_head
    from .impact import _device, _left_padded
    from .tokens import token_statistics

    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = _device(model)
    backbone = policy_modules(model)[1]
    results: list[dict[str, list[float]]] = []
    for start in range(0, len(sequences), batch_size):
        batch = sequences[start : start + batch_size]
        width = max(len(completion) for _, completion in batch)
        # Completions right-aligned too would misalign positions: pad each prompt+completion on the left and the
        # completions on the right to the same width, so that completion token j of every row sits at one column.
        rows = [
            list(prompt) + list(completion) + [pad_token_id] * (width - len(completion))
            for prompt, completion in batch
        ]
        input_ids, attention_mask = _left_padded(rows, pad_token_id, device)
        for row, (_, completion) in enumerate(batch):
            if width > len(completion):
                attention_mask[row, input_ids.size(1) - (width - len(completion)) :] = 0
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)[0]
        hidden = hidden[:, -width - 1 : -1]
        completion_ids = input_ids[:, -width:]
        mask = attention_mask[:, -width:]

        def compute(weight, bias, logit_scale, softcap, hidden=hidden, completion_ids=completion_ids, mask=mask):
            return token_statistics(
                hidden.to(weight.device, weight.dtype),
                weight,
                bias,
                completion_ids.to(weight.device),
                top_p=top_p,
                temperature=temperature,
                logit_scale=logit_scale,
                softcap=softcap,
                mask=mask.to(weight.device),
            )

        stats = with_full_lm_head(model, compute)
        for row, (_, completion) in enumerate(batch):
            n = len(completion)
            results.append(
                {
                    "entropy": stats.entropy[row, :n].tolist(),
                    "direction_norm": stats.direction_norm[row, :n].tolist(),
                    "hidden_norm": stats.hidden_norm[row, :n].tolist(),
                    "branching": stats.branching[row, :n].tolist(),
                }
            )
    return results


def _rounded(values: Sequence[float], digits: int = 6) -> list[float]:
    return [round(float(value), digits) for value in values]


def sample_run(
    model,
    tokenizer,
    benchmark,
    problems: Sequence[dict[str, Any]],
    *,
    num_samples: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    batch_size: int,
    branching_top_p: float = 0.95,
    output_path: str | None = None,
    show_progress: bool = True,
    desc: str = "analyze: sampling",
) -> list[dict[str, Any]]:
    """
    Sample `num_samples` completions of every problem, score and grade them; one record per problem (`id`,
    `prompt_ids`, `samples`: `completion_ids`, `text`, `correct`, `reward`, `advantage`, `tokens` and, per token,
    `entropy`, `gradient_norm` (with GRPO's group advantage, on-policy), `branching`). Resumable: records already in
    `output_path` are kept and new ones appended chunk by chunk.
    """
    from ..sampling.backends import eval_mode
    from ..sampling.cache import SampleCache, merge_records
    from ..sampling.chunks import sample_chunks
    from ..sampling.processes import barrier, gather_objects, process_info
    from .impact import _part_pattern, impact_generator

    prompts = [benchmark.build_prompt(problem, tokenizer) for problem in problems]
    prompt_ids = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    # Several processes (accelerate launch / torchrun) share the chunks as the evaluator does: each appends its
    # chunks to a part file, the main process merges them.
    rank, world_size = process_info()
    done, cache = {}, None
    if output_path is not None:
        output_dir, filename = os.path.dirname(os.path.abspath(output_path)), os.path.basename(output_path)
        cache = SampleCache(output_dir, filename, _part_pattern(output_path), samples_key="samples")
        done = cache.load(num_samples)
    generate_groups = impact_generator(model, tokenizer, num_samples, temperature, top_p, max_new_tokens)

    def generate(groups, chunk_seed):
        samples = generate_groups(groups, chunk_seed)
        flat = [(group[0][0], sample["completion_ids"]) for group, group_samples in zip(groups, samples, strict=True)
                for sample in group_samples]  # fmt: skip
        scores = score_completions(model, tokenizer, flat, temperature=temperature, top_p=branching_top_p,
                                   batch_size=batch_size)  # fmt: skip
        position = 0
        for group_samples in samples:
            for sample in group_samples:
                sample.update(scores[position])
                position += 1
        return samples

    def make_record(index: int, samples: list[dict[str, Any]]) -> dict[str, Any]:
        problem = problems[index]
        for sample in samples:
            sample["correct"] = bool(benchmark.grade(problem, sample["text"]).correct)
            sample["reward"] = float(sample["correct"])
        advantages = group_advantages([sample["reward"] for sample in samples])
        kept = []
        for sample, advantage in zip(samples, advantages, strict=True):
            ids = sample["completion_ids"]
            kept.append(
                {
                    "completion_ids": ids,
                    "text": sample["text"],
                    "correct": sample["correct"],
                    "reward": sample["reward"],
                    "advantage": round(advantage, 6),
                    "tokens": [tokenizer.decode([token], skip_special_tokens=True) for token in ids],
                    "entropy": _rounded(sample["entropy"]),
                    "gradient_norm": _rounded(
                        abs(advantage) * d * h
                        for d, h in zip(sample["direction_norm"], sample["hidden_norm"], strict=True)  # fmt: skip
                    ),
                    "branching": [int(b) for b in sample["branching"]],
                }
            )
        return {"id": problem["id"], "prompt_ids": prompt_ids[index], "samples": kept}

    def save(records):
        if cache is not None:
            cache.append(rank, records)

    with eval_mode(model):
        groups = [[(ids, [])] for ids in prompt_ids]
        new = sample_chunks(
            generate, groups, [problem["id"] for problem in problems], num_samples, batch_size, seed, make_record,
            set(done), rank, world_size, on_chunk=save, show_progress=show_progress, desc=desc, unit="prompt",
        )  # fmt: skip
    records = merge_records(done, gather_objects(new, world_size), [problem["id"] for problem in problems])
    if cache is not None and rank == 0:
        cache.finish(records)
    barrier(world_size)
    return records


# ---------------------------------------------------------------------------------------------------------------------
# Aggregates
# ---------------------------------------------------------------------------------------------------------------------


def _flat_samples(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [sample for record in records for sample in record["samples"]]


def records_sums(records: Sequence[dict[str, Any]], num_bins: int = 10, require_boxed: bool = False) -> dict:
    """The batch sums (`batch_analysis_sums`) of all sampled completions, the same numbers the callback logs."""
    import torch

    samples = _flat_samples(records)
    if not samples:
        return {}
    width = max(len(sample["completion_ids"]) for sample in samples)

    def padded(key):
        return torch.tensor(
            [sample[key] + [0] * (width - len(sample[key])) for sample in samples], dtype=torch.float32
        )

    mask = torch.tensor([[1] * len(s["completion_ids"]) + [0] * (width - len(s["completion_ids"])) for s in samples])
    return batch_analysis_sums(
        padded("entropy"), mask, correct=torch.tensor([sample["correct"] for sample in samples]),
        gradient_norm=padded("gradient_norm"), branching=padded("branching"),
        token_texts=[sample["tokens"] for sample in samples], completion_texts=[sample["text"] for sample in samples],
        num_bins=num_bins, require_boxed=require_boxed,
    )  # fmt: skip


def behaviour_summary(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean entropy and token count of pivotal vs other tokens and of reflective vs other sentences' tokens."""
    totals: dict[str, list[float]] = {}
    for sample in _flat_samples(records):
        add_sums(totals, behaviour_sums(sample["tokens"], sample["entropy"]))
    return {
        name: {"mean_entropy": total / count if count else math.nan, "num_tokens": count}
        for name, (total, count) in totals.items()
    }


def completion_sentences(samples: Sequence[dict[str, Any]]) -> tuple[list[str], list[float]]:
    """The sentences of the completions and the mean token entropy of each."""
    sentences, entropies = [], []
    for sample in samples:
        index = sentence_token_index(sample["tokens"])
        by_sentence: dict[int, list[int]] = {}
        for position, sentence in enumerate(index):
            if sentence >= 0:
                by_sentence.setdefault(sentence, []).append(position)
        for positions in by_sentence.values():
            text = "".join(sample["tokens"][p] for p in positions).strip()
            if text:
                sentences.append(text)
                entropies.append(_mean([sample["entropy"][p] for p in positions]))
    return sentences, entropies


def rare_summary(
    records: Sequence[dict[str, Any]],
    base_records: Sequence[dict[str, Any]],
    embed: Callable[[list[str]], Any],
    k: int = 5,
    top_fraction: float = 0.1,
) -> dict[str, Any]:
    """Rare behaviours: sentences far (mean cosine distance to their `k` nearest neighbours) from the base model's."""
    from .text import rare_behaviour_statistics

    sentences, entropies = completion_sentences(_flat_samples(records))
    reference, _ = completion_sentences(_flat_samples(base_records))
    if not sentences or not reference:
        return {"num_sentences": len(sentences), "num_reference_sentences": len(reference)}
    stats = rare_behaviour_statistics(sentences, entropies, reference, embed, k=k, top_fraction=top_fraction)
    return {**stats, "num_reference_sentences": len(reference), "k": k, "top_fraction": top_fraction}


def impact_summary(impact_records: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """I_t against H_t at the measured positions: Spearman correlations, and the mean impact of the top 20% by entropy
    against the rest."""
    entropy_of = {}
    for record in records:
        for j, sample in enumerate(record["samples"]):
            entropy_of[f"{record['id']}#{j}"] = sample["entropy"]
    points = [
        (entropy_of[r["completion"]][r["t"]], r["impact"]) for r in impact_records if r["completion"] in entropy_of
    ]
    if not points:
        return {"num_positions": 0}
    points.sort(key=lambda point: point[0])
    num_high = max(1, round(HIGH_ENTROPY_SHARE * len(points)))
    low, high = points[:-num_high], points[-num_high:]
    entropies, impacts = [p[0] for p in points], [p[1] for p in points]
    return {
        "num_positions": len(points),
        "k": len(impact_records[0]["correct_original"]),
        "mean_impact": _mean(impacts),
        "mean_abs_impact": _mean([abs(i) for i in impacts]),
        "spearman_entropy_impact": spearman(entropies, impacts),
        "spearman_entropy_abs_impact": spearman(entropies, [abs(i) for i in impacts]),
        "mean_impact_high_entropy": _mean([p[1] for p in high]),
        "mean_impact_low_entropy": _mean([p[1] for p in low]),
        "mean_abs_impact_high_entropy": _mean([abs(p[1]) for p in high]),
        "mean_abs_impact_low_entropy": _mean([abs(p[1]) for p in low]),
        "high_entropy_share": HIGH_ENTROPY_SHARE,
        "points": [[round(h, 6), round(i, 6)] for h, i in points],
    }


def stage_summary(run_dir: str, num_bins: int = 10) -> dict[str, Any]:
    """Stages from the log history (the stage detector's plateau step) and the training-time analysis records split
    by stage."""
    from ..plotting import curve, load_log_history
    from ..stage_detector import StageDetector

    result: dict[str, Any] = {}
    state_path = os.path.join(run_dir, "trainer_state.json")
    if os.path.isfile(state_path):
        history = load_log_history(state_path)
        steps, entropy = curve(history, "entropy")
        reward_steps, reward = curve(history, "reward")
        # the boundary the run's own detector declared (it saw every step), else one detected from the logged steps
        declared = [
            entry["entropy/plateau_step"] for entry in history if entry.get("entropy/plateau_step") is not None
        ]
        plateau = int(declared[-1]) if declared else StageDetector.detect(history).plateau_step
        result["plateau_source"] = "declared during training" if declared else "detected from the log history"
        result.update(
            {
                "plateau_step": plateau,
                "num_steps": max(steps) if steps else 0,
                "entropy_curve": [steps, entropy],
                "reward_curve": [reward_steps, reward],
            }
        )
        if plateau is not None:
            rising = [(s, e) for s, e in zip(steps, entropy, strict=True) if s <= plateau]
            flat = [(s, e) for s, e in zip(steps, entropy, strict=True) if s > plateau]
            result["entropy_slope_rising"] = least_squares_slope([s for s, _ in rising], [e for _, e in rising])
            result["entropy_slope_plateau"] = least_squares_slope([s for s, _ in flat], [e for _, e in flat])
        result["entropy_slope"] = least_squares_slope(steps, entropy)
    analysis_path = os.path.join(run_dir, ANALYSIS_FILENAME)
    if os.path.isfile(analysis_path):
        training = load_analysis_records(analysis_path)
        by_stage: dict[str, dict] = {}
        for record in training:
            sums = {name: tuple(pair) for name, pair in record["sums"].items()}
            add_sums(by_stage.setdefault(record.get("stage") or "unknown", {}), sums)
        result["per_stage"] = {stage: analysis_metrics(sums, num_bins) for stage, sums in by_stage.items()}
        result["training_records"] = [
            {"step": record["step"], "stage": record.get("stage"), "metrics": record["metrics"]} for record in training
        ]
    return result


def _verdict(claim: str, source: str, holds: bool | None, evidence: str) -> dict[str, Any]:
    return {"claim": claim, "source": source, "holds": holds, "evidence": evidence}


def _fmt(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def evaluate_claims(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdict on each claim of the seeds from a run's summary: `holds` is `None` when it cannot be measured."""
    claims = []
    impact = summary.get("impact") or {}
    if impact.get("num_positions"):
        high, low = impact["mean_abs_impact_high_entropy"], impact["mean_abs_impact_low_entropy"]
        rho = impact["spearman_entropy_abs_impact"]
        holds = bool(high > low and rho > 0) if not math.isnan(rho) else bool(high > low)
        evidence = (
            f"|I_t| {_fmt(high)} at the top {HIGH_ENTROPY_SHARE:.0%} of positions by entropy vs {_fmt(low)} at the "
            f"rest; Spearman(H_t, |I_t|) = {_fmt(rho)} over {impact['num_positions']} positions (k = {impact['k']})"
        )
    else:
        holds, evidence = None, "not measured (run with --impact-positions N)"
    claims.append(_verdict("High-entropy tokens matter more to the outcome (performance impact I_t)",
                           "arXiv 2508.02260", holds, evidence))  # fmt: skip
    behaviours = summary.get("behaviours") or {}
    for name, other, claim in (
        ("pivotal", "non_pivotal", "Pivotal tokens (connectives, reasoning verbs) carry higher entropy"),
        ("reflective_sentences", "other_sentences", "Reflective sentences (verify, check, ...) carry higher entropy"),
    ):
        a, b = behaviours.get(name, {}), behaviours.get(other, {})
        if a.get("num_tokens") and b.get("num_tokens"):
            holds = bool(a["mean_entropy"] > b["mean_entropy"])
            evidence = (
                f"mean entropy {_fmt(a['mean_entropy'])} ({int(a['num_tokens'])} tokens) vs "
                f"{_fmt(b['mean_entropy'])} ({int(b['num_tokens'])} tokens)"
            )
        else:
            holds, evidence = None, f"not measurable: {int(a.get('num_tokens', 0))} such tokens in the completions"
        claims.append(_verdict(claim, "arXiv 2506.14758", holds, evidence))
    rare = summary.get("rare") or {}
    if "rare_share" in rare:
        holds = bool(rare["mean_entropy_rare"] > rare["mean_entropy_other"])
        evidence = (
            f"mean entropy {_fmt(rare['mean_entropy_rare'])} of the {rare['rare_share']:.0%} of sentences farthest "
            f"from the base model's (k = {rare['k']}) vs {_fmt(rare['mean_entropy_other'])} of the others"
        )
    else:
        holds, evidence = None, (rare.get("note") or "not measured") if rare else "not measured"
    claims.append(_verdict("Rare behaviours (sentences far from the base model's) carry higher entropy",
                           "arXiv 2506.14758", holds, evidence))  # fmt: skip
    profile = (summary.get("profiles") or {}).get("entropy", {}).get("all")
    if profile:
        from .tokens import u_shape_statistic

        shape = u_shape_statistic(profile)
        evidence = (
            f"ends {_fmt(shape['ends'])} (first bin {_fmt(profile[0])}, last {_fmt(profile[-1])}) vs middle "
            f"{_fmt(shape['middle'])}"
        )
        claims.append(_verdict("The positional entropy profile is U-shaped", "arXiv 2508.02260",
                               shape["u_shaped"], evidence))  # fmt: skip
    stages = summary.get("stages") or {}
    if stages.get("plateau_step") is not None:
        rising, flat = stages.get("entropy_slope_rising", math.nan), stages.get("entropy_slope_plateau", math.nan)
        holds = None if math.isnan(rising) or math.isnan(flat) else bool(rising < 0 and abs(flat) < abs(rising))
        evidence = (
            f"entropy slope {_fmt(rising)} per step up to the plateau (step {stages['plateau_step']}, "
            f"{stages.get('plateau_source', 'detected')}), {_fmt(flat)} after"
        )
    elif "num_steps" in stages:
        holds = None
        evidence = (
            f"not measurable: the stage detector declared no plateau in {stages['num_steps']} steps (entropy slope "
            f"{_fmt(stages.get('entropy_slope'))} per step over the run)"
        )
    else:
        holds, evidence = None, "not measurable: no trainer_state.json"
    claims.append(_verdict("Entropy falls in the rising stage and flattens in the plateau", "arXiv 2508.02260",
                           holds, evidence))  # fmt: skip
    return claims


# ---------------------------------------------------------------------------------------------------------------------
# A run
# ---------------------------------------------------------------------------------------------------------------------


def _read_card_inputs(run_dir: str) -> dict[str, Any]:
    from ..model_card import CARD_INPUTS_FILENAME

    path = os.path.join(run_dir, CARD_INPUTS_FILENAME)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def infer_benchmark(card_inputs: dict[str, Any]) -> str | None:
    """The embedded task a run was trained on, from its card inputs (the verifier names the task module)."""
    verifier = str(card_inputs.get("verifier") or "")
    for module, benchmark in _TASK_MODULES.items():
        if f"`{module}`" in verifier:
            return benchmark
    return None


def _default_base(benchmark: str) -> str | None:
    from ..tasks import TINY_POLICY_PATH, TINY_STEPS_POLICY_PATH

    return {"countdown-steps": TINY_STEPS_POLICY_PATH, "countdown": TINY_POLICY_PATH}.get(benchmark)


def _resolve_embedder(embed: str | Callable | None) -> tuple[Callable | None, str | None]:
    if callable(embed):
        return embed, None
    if embed in (None, "none"):
        return None, "rare behaviours not computed (--embedder none)"
    from .text import load_sentence_embedder

    try:
        return load_sentence_embedder(), None
    except ImportError as error:
        return None, f"rare behaviours not computed: {error}"


def _settings_check(analysis_dir: str, settings: dict[str, Any], overwrite: bool) -> None:
    """Resume only the same analysis of the same weights: other weights start afresh, other settings are refused.
    Every process reads and decides; the main process alone removes and writes."""
    from ..eval.evaluator import _barrier, _process_info

    rank, world_size = _process_info()
    path = os.path.join(analysis_dir, SETTINGS_FILENAME)
    cached = [
        path
        for name in (SAMPLES_FILENAME, BASE_SAMPLES_FILENAME, IMPACT_FILENAME)
        for path in [
            os.path.join(analysis_dir, name),
            *glob.glob(os.path.join(glob.escape(analysis_dir), name) + ".part-*"),
        ]
    ]
    if os.path.isfile(path) and not overwrite:
        with open(path) as f:
            saved = json.load(f)
        if saved.get("weights_fingerprint") != settings["weights_fingerprint"]:
            if rank == 0:
                warnings.warn(f"{analysis_dir} holds an analysis of other weights: it starts afresh.", stacklevel=3)
            overwrite = True
        else:
            changed = [k for k in settings if k not in ("impact_positions",) and saved.get(k) != settings[k]]
            if changed:
                details = ", ".join(f"{k}: {saved.get(k)!r} -> {settings[k]!r}" for k in changed)
                raise AnalysisInputError(
                    f"{analysis_dir} holds an analysis with other settings ({details}); pass --overwrite to start "
                    "afresh."
                )
    _barrier(world_size)  # every process has read the old settings before the main one replaces them
    if rank == 0:
        if overwrite:
            for cache in cached:
                if os.path.isfile(cache):
                    os.remove(cache)
        os.makedirs(analysis_dir, exist_ok=True)
        with open(path, "w") as f:
            json.dump(settings, f, indent=2)
    _barrier(world_size)


def analyze_run(
    run_dir: str,
    *,
    benchmark: str | None = None,
    split: str = "test",
    num_prompts: int = 64,
    num_samples: int = 8,
    temperature: float | None = None,
    top_p: float | None = None,
    max_new_tokens: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    impact_positions: int = 0,
    impact_k: int = 32,
    base: str | None = None,
    embedder: str | Callable | None = "auto",
    num_bins: int = 10,
    overwrite: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """
    Analyse one run (or any local checkpoint): sample and score completions, measure the impact of a budget of
    positions, compare with the base model's sentences, read the training records and the log history, and write
    `<run_dir>/analysis/` (`settings.json`, `samples.jsonl`, `impact.jsonl`, `base_samples.jsonl`, `summary.json`).
    Samples and impacts already there are reused (resume) when the weights and settings are the same.

    Returns:
        `dict`: The summary (also in `summary.json`).
    """
    import time

    from ..eval.benchmarks import load_benchmark
    from ..eval.evaluator import DEFAULT_MAX_NEW_TOKENS, _load_hf, check_model_path
    from ..fingerprint import weights_fingerprint
    from ..model_card import select_evaluations
    from .impact import performance_impact

    started = time.perf_counter()
    run_dir = os.path.abspath(check_model_path(run_dir))
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.commonpath([run_dir, package_dir]) == package_dir:
        raise AnalysisInputError(
            f"{run_dir} is inside the installed trl_entropy package (a shipped policy); the analysis is written into "
            f"the analysed folder, so copy it first: cp -r {run_dir} DIR && trl-entropy analyze DIR"
        )
    card_inputs = _read_card_inputs(run_dir)
    benchmark = benchmark or infer_benchmark(card_inputs)
    if benchmark is None:
        raise AnalysisInputError(
            f"Cannot tell which task {run_dir} was trained on (its card inputs name no embedded task): pass "
            "--benchmark (countdown, countdown-steps, offline-math, math500, ...)."
        )
    for name, value, valid in (
        ("num_prompts", num_prompts, isinstance(num_prompts, int) and num_prompts >= 1),
        ("num_samples", num_samples, isinstance(num_samples, int) and num_samples >= 2),
        ("impact_positions", impact_positions, isinstance(impact_positions, int) and impact_positions >= 0),
        ("impact_k", impact_k, isinstance(impact_k, int) and impact_k >= 1),
        ("batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 1),
    ):
        if not valid:
            low = {"num_samples": 2, "impact_positions": 0}.get(name, 1)
            raise AnalysisInputError(f"`{name}` must be an integer >= {low}, got {value!r}.")
    bench = load_benchmark(benchmark, split=split)
    problems = bench.problems[:num_prompts]
    decoding = card_inputs.get("decoding") or {}
    temperature = temperature if temperature is not None else float(decoding.get("temperature") or 1.0)
    top_p = top_p if top_p is not None else float(decoding.get("top_p") or 1.0)
    max_new_tokens = max_new_tokens or decoding.get("max_completion_length") or DEFAULT_MAX_NEW_TOKENS[bench.kind]
    fingerprint = weights_fingerprint(run_dir)
    settings = {
        "weights_fingerprint": fingerprint, "benchmark": benchmark, "split": split, "num_prompts": len(problems),
        "num_samples": num_samples, "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens,
        "seed": seed, "impact_positions": impact_positions, "impact_k": impact_k, "base": base,
    }  # fmt: skip
    analysis_dir = os.path.join(run_dir, ANALYSIS_DIRNAME)
    _settings_check(analysis_dir, settings, overwrite)
    from ..eval.evaluator import _process_info

    say = print if show_progress and _process_info()[0] == 0 else (lambda *args, **kwargs: None)

    model, tokenizer = _load_hf(run_dir, "float32")
    sampling = dict(num_samples=num_samples, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                    seed=seed, batch_size=batch_size, show_progress=show_progress)  # fmt: skip
    records = sample_run(model, tokenizer, bench, problems, output_path=os.path.join(analysis_dir, SAMPLES_FILENAME),
                         desc=f"analyze {os.path.basename(run_dir)}: sampling", **sampling)  # fmt: skip
    require_boxed = bench.kind == "math"
    sums = records_sums(records, num_bins, require_boxed)
    samples = _flat_samples(records)
    summary: dict[str, Any] = {
        "run": os.path.basename(run_dir.rstrip(os.sep)),
        "model": run_dir,
        "weights_fingerprint": fingerprint,
        "task": benchmark,
        "num_prompts": len(problems),
        "num_samples": num_samples,
        "num_completions": len(samples),
        "decoding": {"temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens, "seed": seed},
        "accuracy": _mean([float(sample["correct"]) for sample in samples]),
        "metrics": analysis_metrics(sums, num_bins),
        "profiles": analysis_profiles(sums, num_bins),
        "sums": {name: list(pair) for name, pair in sorted(sums.items())},
    }
    metrics = summary["metrics"]
    from .text import ROLES

    summary["roles"] = {
        role: {"share": metrics.get(f"role_{role}_share"), "mean_entropy": metrics.get(f"role_{role}_entropy")}
        for role in ROLES
    }
    summary["quality"] = {k[len("quality_") :]: v for k, v in metrics.items() if k.startswith("quality_")}
    summary["behaviours"] = behaviour_summary(records)

    summary["impact"] = None
    if impact_positions:
        completions = [
            {"id": f"{record['id']}#{j}", "prompt_ids": record["prompt_ids"], "completion_ids": s["completion_ids"],
             "problem": problem}
            for record, problem in zip(records, problems, strict=True) for j, s in enumerate(record["samples"])
        ]  # fmt: skip
        say(f"analyze: performance impact of {impact_positions} positions, k = {impact_k}", file=sys.stderr)
        impact_records = performance_impact(
            model, tokenizer, completions, lambda completion, text: bool(bench.grade(completion["problem"], text).correct),
            budget=impact_positions, max_new_tokens=max_new_tokens, k=impact_k, seed=seed, batch_size=batch_size,
            temperature=temperature, top_p=top_p, output_path=os.path.join(analysis_dir, IMPACT_FILENAME),
            show_progress=show_progress,
        )  # fmt: skip
        summary["impact"] = impact_summary(impact_records, records)

    embed, rare_note = _resolve_embedder(embedder)
    base_path = base or _default_base(benchmark)
    summary["rare"] = {"note": rare_note} if rare_note else None
    if embed is not None and base_path is None:
        summary["rare"] = {"note": "rare behaviours not computed: no base model (pass --base)"}
    elif embed is not None:
        base_model, base_tokenizer = _load_hf(check_model_path(base_path), "float32")
        base_records = sample_run(base_model, base_tokenizer, bench, problems,
                                  output_path=os.path.join(analysis_dir, BASE_SAMPLES_FILENAME),
                                  desc="analyze: base model sampling", **sampling)  # fmt: skip
        summary["rare"] = {**rare_summary(records, base_records, embed), "base": base_path}
        del base_model
    if rare_note:
        say(f"analyze: {rare_note}", file=sys.stderr)

    summary["stages"] = stage_summary(run_dir, num_bins)
    kept, _, _ = select_evaluations(run_dir, fingerprint=fingerprint)
    summary["pass_at_k"] = {
        evaluation["benchmark"]: {
            name.split("@")[1]: value for name, value in evaluation["metrics"].items() if name.startswith("pass@")
        }
        for evaluation in kept
        if any(name.startswith("pass@") for name in evaluation["metrics"])
    }
    summary["claims"] = evaluate_claims(summary)
    summary["wall_time_s"] = round(time.perf_counter() - started, 1)
    summary["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return summary


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def write_analysis(runs: Sequence[tuple[str, dict[str, Any]]], output_dir: str) -> dict[str, str]:
    """Figures and `report.html` of `runs` (name, summary) in `output_dir`; returns the figure paths."""
    from .render import FIGURES_DIRNAME, write_figures, write_report_html

    figures = write_figures(runs, os.path.join(output_dir, FIGURES_DIRNAME))
    write_report_html(runs, figures, os.path.join(output_dir, REPORT_FILENAME))
    return figures


def analyze(run_dirs: Sequence[str], output: str | None = None, **kwargs) -> list[dict[str, Any]]:
    """[`analyze_run`] on every run, each run's figures and report in its `analysis/`, and with several runs the
    side-by-side figures and report in `output` (default `entropy-analysis/`)."""
    from ..eval.evaluator import _process_info

    main_process = _process_info()[0] == 0  # under several processes every one computes, the main one writes
    summaries = []
    for run_dir in run_dirs:
        summary = analyze_run(run_dir, **kwargs)
        analysis_dir = os.path.join(summary["model"], ANALYSIS_DIRNAME)
        if main_process:
            figures = write_analysis([(summary["run"], summary)], analysis_dir)
            summary["figures"] = {name: os.path.relpath(path, analysis_dir) for name, path in figures.items()}
            with open(os.path.join(analysis_dir, SUMMARY_FILENAME), "w") as f:
                json.dump(_jsonable(summary), f, indent=2)
        summaries.append(summary)
    if len(summaries) > 1 and main_process:
        output = output or "entropy-analysis"
        os.makedirs(output, exist_ok=True)
        names = [summary["run"] for summary in summaries]
        if len(set(names)) < len(names):  # two runs with the same folder name: tell them apart by their parent
            names = [os.path.join(*summary["model"].split(os.sep)[-2:]) for summary in summaries]
        write_analysis(list(zip(names, summaries, strict=True)), output)
        with open(os.path.join(output, SUMMARY_FILENAME), "w") as f:
            json.dump(_jsonable({"runs": summaries}), f, indent=2)
    return summaries

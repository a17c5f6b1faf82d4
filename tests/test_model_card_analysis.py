# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The model card's "Entropy analysis" section: from `analysis/summary.json` (`trl-entropy analyze`), shown only next
to the weights it analysed, with the same rule and wording as evaluations of other weights."""

import json

import pytest
from conftest import cpu_grpo_kwargs

from trl_entropy import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer
from trl_entropy.fingerprint import weights_fingerprint
from trl_entropy.model_card import build_model_card, load_analysis_summary, refresh_model_card, select_analysis
from trl_entropy.tasks import countdown_reward, load_tiny_policy


OTHER_WEIGHTS = "sha256:" + "0" * 64


def analysis_summary(fingerprint):
    summary = {
        "model": "outputs/tiny-countdown-steps-grpo",
        "task": "countdown-steps",
        "num_prompts": 64,
        "num_samples": 8,
        "num_completions": 512,
        "metrics": {
            "entropy": 0.25,
            "entropy_correct": 0.125,
            "entropy_incorrect": None,  # JSON has no NaN: an empty mean is written as null
            "entropy_u_shape": 0.0625,
            "gradient_norm": 1.5,
            "branching": 1.75,
            "role_formal_reasoning_share": 0.75,
            "role_formal_reasoning_entropy": 0.2,
            "quality_missing_boxed": 0.0,
            "quality_any_issue": 0.015625,
        },
        "impact": {"num_positions": 64, "k": 32, "mean_impact": 0.1, "spearman_entropy_impact": 0.3},
        "claims": [
            {
                "claim": "High-entropy tokens matter more to the outcome",
                "source": "arXiv 2508.02260",
                "holds": True,
                "evidence": "mean impact 0.2 (high entropy) vs 0.05 (low)",
            },
            {
                "claim": "Entropy is U-shaped over positions",
                "source": "arXiv 2508.02260",
                "holds": False,
                "evidence": "U-shape 0.0625 |\nnot above 0.1",  # folded onto one table row
            },
            {
                "claim": "Rare behaviours carry high entropy",
                "source": "arXiv 2506.14758",
                "holds": None,
                "evidence": "no base model",
            },
        ],
        "figures": {"profile": "figures/profile.png", "roles": "figures/roles.png", "escape": "../README.md"},
    }
    if fingerprint is not None:
        summary["weights_fingerprint"] = fingerprint
    return summary


def write_analysis(folder, summary, figures=("profile.png",)):
    analysis_dir = folder / "analysis"
    (analysis_dir / "figures").mkdir(parents=True, exist_ok=True)
    for name in figures:
        (analysis_dir / "figures" / name).write_bytes(b"\x89PNG\r\n")
    (analysis_dir / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def saved(tmp_path, prompt_dataset):
    """An untrained trainer whose model `save_model` saved (weights and card) into `tmp_path / "final"`."""
    model, tokenizer = load_tiny_policy()
    args = EntropyAdvantageGRPOConfig(**cpu_grpo_kwargs(tmp_path / "run"))
    trainer = EntropyAdvantageGRPOTrainer(model=model, reward_funcs=countdown_reward, args=args,
                                          train_dataset=prompt_dataset, processing_class=tokenizer)  # fmt: skip
    final = tmp_path / "final"
    trainer.save_model(str(final))
    return trainer, final


def section(card: str) -> str:
    return card.split("## Entropy analysis", 1)[1].split("\n## ", 1)[0]


def test_the_analysis_of_these_weights_gets_its_section(saved):
    trainer, final = saved
    write_analysis(final, analysis_summary(weights_fingerprint(final)))
    card = (final / "README.md").read_text()
    assert "## Entropy analysis" not in card  # written before the analysis existed
    refresh_model_card(final)  # `trl-entropy card`
    card = (final / "README.md").read_text()
    assert "## Entropy analysis" in card and "Left out" not in card
    # after the evaluation sections, before the framework versions
    assert card.index("## Results") < card.index("## Entropy analysis") < card.index("## Framework versions")
    text = section(card)
    assert "512 completions of 64 prompts (8 samples each) of the task `countdown-steps`" in text
    assert "`trl-entropy analyze <dir>`" in text
    for row in ("| `entropy` | 0.25 |", "| `entropy_correct` | 0.125 |", "| `entropy_incorrect` | – |",
                "| `gradient_norm` | 1.5 |", "| `branching` | 1.75 |", "| `role_formal_reasoning_share` | 0.75 |",
                "| `quality_any_issue` | 0.015625 |", "| `mean_impact` | 0.1 |",
                "| `spearman_entropy_impact` | 0.3 |"):  # fmt: skip
        assert row in text, row
    assert "| `quality_missing_boxed` |" not in text  # not a main metric: it stays in summary.json
    assert "measured at 64 positions with 32 continuations each" in text
    assert "| claim | source | holds | evidence |" in text
    assert (
        "| High-entropy tokens matter more to the outcome | arXiv 2508.02260 | yes | mean impact 0.2 (high entropy) "
        "vs 0.05 (low) |"
    ) in text
    assert "| Entropy is U-shaped over positions | arXiv 2508.02260 | no | U-shape 0.0625 \\| not above 0.1 |" in text
    assert "| Rare behaviours carry high entropy | arXiv 2506.14758 | not measurable | no base model |" in text
    # only the figures whose files exist, relative to the card; none outside `analysis/`
    assert "![profile](analysis/figures/profile.png)" in text
    assert "roles.png" not in text and "escape" not in text

    # A later save of the same weights keeps the section; `build_model_card` shows it too.
    trainer.save_model(str(final))
    assert "## Entropy analysis" in (final / "README.md").read_text()
    assert "## Entropy analysis" in str(build_model_card(trainer, output_dir=str(final)))


@pytest.mark.parametrize(
    ("fingerprint", "reason"),
    [(OTHER_WEIGHTS, f"it is of other weights ({'0' * 12})"), (None, "it records no weights fingerprint")],
    ids=["other-weights", "no-fingerprint"],
)
def test_an_analysis_of_other_weights_is_left_out(saved, fingerprint, reason):
    _, final = saved
    write_analysis(final, analysis_summary(fingerprint))
    with pytest.warns(UserWarning, match=r"leaves out 1 evaluation\(s\).*analysis/summary\.json"):
        refresh_model_card(final)
    card = (final / "README.md").read_text()
    assert "## Entropy analysis" not in card and "0.015625" not in card
    assert "Left out of this card: 1 evaluation not shown to be of the weights in this folder" in card
    assert f"- `analysis/summary.json`: {reason}" in card


def test_a_partial_summary_does_not_crash_and_no_summary_no_section(saved, tmp_path):
    _, final = saved
    assert load_analysis_summary(final) is None and select_analysis(final) == (None, [])
    write_analysis(final, {"weights_fingerprint": weights_fingerprint(final), "impact": None}, figures=())
    refresh_model_card(final)
    text = section((final / "README.md").read_text())
    assert "the completions" in text and "| claim |" not in text and "![" not in text
    # a folder without weights matches no analysis
    empty = tmp_path / "empty"
    write_analysis(empty, analysis_summary(OTHER_WEIGHTS))
    assert select_analysis(empty) == (
        None,
        [{"name": "analysis/summary.json", "reason": "this folder holds no weights to match"}],
    )

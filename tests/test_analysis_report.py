# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`trl-entropy analyze`: the small statistics by hand, the scoring forward against full logits, a real analysis of
the tiny step-by-step policy (summary, claims, figures, a self-contained report), resume, refusals, several runs."""

import json
import math
import os
import shutil

import pytest
import torch
from test_analysis_text import trigram_embed

from trl_entropy.analysis.report import (
    ANALYSIS_DIRNAME,
    SAMPLES_FILENAME,
    AnalysisInputError,
    analyze,
    analyze_run,
    evaluate_claims,
    group_advantages,
    least_squares_slope,
    score_completions,
    spearman,
)


def test_small_statistics_by_hand():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share their mean rank: ranks x (0, 1.5, 1.5, 3), y (0, 1, 2, 3); centred: cov 4.5, var 4.5 and 5
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert math.isnan(spearman([1, 2], [1, 2])) and math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert least_squares_slope([0, 1, 2], [1, 3, 5]) == pytest.approx(2.0)
    advantages = group_advantages([1.0, 0.0, 0.0, 0.0])
    std = math.sqrt((0.75**2 + 3 * 0.25**2) / 3)
    assert advantages == pytest.approx([0.75 / (std + 1e-4)] + [-0.25 / (std + 1e-4)] * 3)
    assert group_advantages([1.0, 1.0]) == [0.0, 0.0]


def test_claims_verdicts_by_hand():
    summary = {
        "impact": {"num_positions": 10, "k": 4, "mean_abs_impact_high_entropy": 0.2, "mean_abs_impact_low_entropy": 0.5,
                   "spearman_entropy_abs_impact": -0.4},
        "behaviours": {"pivotal": {"mean_entropy": 1.0, "num_tokens": 3}, "non_pivotal": {"mean_entropy": 0.5,
                       "num_tokens": 9}, "reflective_sentences": {"num_tokens": 0}, "other_sentences": {"num_tokens": 9}},
        "profiles": {"entropy": {"all": [1.0, 0.2, 0.3, 0.9]}},
        "stages": {"plateau_step": 50, "entropy_slope_rising": -0.01, "entropy_slope_plateau": 0.001},
        "rare": {"rare_share": 0.1, "mean_entropy_rare": 0.2, "mean_entropy_other": 0.3, "k": 5},
    }  # fmt: skip
    verdicts = [claim["holds"] for claim in evaluate_claims(summary)]
    assert verdicts == [False, True, None, False, True, True]
    summary["rare"] = {"note": "rare behaviours not computed (--embedder none)"}
    assert evaluate_claims(summary)[3] == {
        "claim": "Rare behaviours (sentences far from the base model's) carry higher entropy", "source":
        "arXiv 2506.14758", "holds": None, "evidence": "rare behaviours not computed (--embedder none)"}  # fmt: skip
    summary["stages"] = {"num_steps": 150, "entropy_slope": -0.001}
    assert evaluate_claims(summary)[-1]["holds"] is None
    assert "no plateau in 150 steps" in evaluate_claims(summary)[-1]["evidence"]


@pytest.fixture(scope="module")
def steps_policy():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trl_entropy.tasks import TINY_STEPS_POLICY_PATH

    return AutoModelForCausalLM.from_pretrained(TINY_STEPS_POLICY_PATH), AutoTokenizer.from_pretrained(
        TINY_STEPS_POLICY_PATH
    )


def test_score_completions_match_full_logits_with_ragged_prompts_and_completions(steps_policy):
    model, tokenizer = steps_policy
    eos = tokenizer.eos_token_id
    sequences = [
        (tokenizer("3 5 7 9=24:")["input_ids"], tokenizer("3*5=15,")["input_ids"] + [eos]),
        (tokenizer("1 2 3 4=10:")["input_ids"], tokenizer("1+2")["input_ids"]),
        (tokenizer("9 9 9 9=81:")["input_ids"], tokenizer("9*9=81,9-9=0,0*9=0")["input_ids"] + [eos]),
    ]
    scores = score_completions(model, tokenizer, sequences, temperature=0.8, batch_size=2)
    for (prompt, completion), score in zip(sequences, scores, strict=True):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + completion])).logits[0, len(prompt) - 1 : -1] / 0.8
        probs = logits.softmax(-1)
        entropy = -(probs * probs.log()).sum(-1)
        direction = (torch.nn.functional.one_hot(torch.tensor(completion), probs.size(-1)) - probs).norm(dim=-1)
        assert len(score["entropy"]) == len(completion)
        assert score["entropy"] == pytest.approx(entropy.tolist(), abs=1e-4)
        assert score["direction_norm"] == pytest.approx(direction.tolist(), abs=1e-4)
        assert min(score["branching"]) >= 1


@pytest.fixture
def run_dir(tmp_path):
    from trl_entropy.tasks import TINY_STEPS_POLICY_PATH

    path = tmp_path / "run"
    shutil.copytree(TINY_STEPS_POLICY_PATH, path)
    return str(path)


SMALL = dict(benchmark="countdown-steps", num_prompts=4, num_samples=4, batch_size=16, embedder=trigram_embed,
             show_progress=False)  # fmt: skip


def test_analyze_a_run_writes_summary_figures_and_a_self_contained_report(run_dir):
    import matplotlib  # noqa: F401  (the test extra installs it: a missing one must fail, not skip)

    (summary,) = analyze([run_dir], impact_positions=4, impact_k=4, **SMALL)
    analysis = os.path.join(run_dir, ANALYSIS_DIRNAME)
    with open(os.path.join(analysis, "summary.json")) as f:
        saved = json.load(f)
    assert saved["num_completions"] == 16 and saved["task"] == "countdown-steps"
    assert saved["weights_fingerprint"].startswith("sha256:")
    assert len(saved["profiles"]["entropy"]["all"]) == 10
    assert saved["impact"]["num_positions"] == 4 and saved["impact"]["k"] == 4
    assert saved["rare"]["num_sentences"] > 0 and 0 < saved["rare"]["rare_share"] <= 1
    assert [claim["source"] for claim in saved["claims"]].count("arXiv 2506.14758") == 3
    assert len(saved["claims"]) == 6
    # the shipped policy has no trainer_state.json: the stage claim says so
    assert saved["claims"][-1]["holds"] is None and "trainer_state.json" in saved["claims"][-1]["evidence"]
    for name in ("profile", "roles", "impact_vs_entropy", "quality"):
        assert os.path.isfile(os.path.join(analysis, saved["figures"][name]))
    with open(os.path.join(analysis, "report.html"), encoding="utf-8") as f:
        page = f.read()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count("data:image/png;base64,") == len(saved["figures"])
    assert "does not hold" in page or "holds" in page
    # the accuracy of the summary is the share of graded-correct samples
    with open(os.path.join(analysis, SAMPLES_FILENAME)) as f:
        records = [json.loads(line) for line in f]
    samples = [sample for record in records for sample in record["samples"]]
    assert summary["accuracy"] == pytest.approx(sum(s["correct"] for s in samples) / len(samples))
    assert all(len(s["entropy"]) == len(s["completion_ids"]) == len(s["tokens"]) for s in samples)


def test_analyze_resumes_an_interrupted_run_with_the_same_numbers(run_dir, monkeypatch):
    settings = {**SMALL, "batch_size": 8}  # chunks of 2 prompts x 4 samples
    first = analyze_run(run_dir, **settings)
    path = os.path.join(run_dir, ANALYSIS_DIRNAME, SAMPLES_FILENAME)
    with open(path) as f:
        lines = f.readlines()
    with open(path, "w") as f:
        f.writelines(lines[:2])  # interrupted after the first chunk
    import trl_entropy.analysis.report as report

    calls = []
    original = report.score_completions
    monkeypatch.setattr(report, "score_completions", lambda *a, **k: calls.append(len(a[2])) or original(*a, **k))
    second = analyze_run(run_dir, **settings)
    assert sum(calls) == 2 * 4  # only the second chunk (2 prompts x 4 samples) was generated and scored again
    assert second["metrics"] == pytest.approx(first["metrics"], nan_ok=True)
    assert second["accuracy"] == first["accuracy"]


def test_analyze_refuses_other_settings_and_restarts_for_other_weights(run_dir):
    analyze_run(run_dir, **SMALL)
    with pytest.raises(AnalysisInputError, match="other settings.*num_samples: 4 -> 5"):
        analyze_run(run_dir, **{**SMALL, "num_samples": 5})
    analyze_run(run_dir, **{**SMALL, "num_samples": 5, "overwrite": True})
    # new weights in the folder: the cached samples are of other weights
    from safetensors.torch import load_file, save_file

    weights = os.path.join(run_dir, "model.safetensors")
    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 0.01
    save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.warns(UserWarning, match="other weights"):
        analyze_run(run_dir, **{**SMALL, "num_samples": 5})


def test_analyze_input_errors(run_dir, tmp_path):
    from trl_entropy.tasks import TINY_STEPS_POLICY_PATH

    with pytest.raises(AnalysisInputError, match="inside the installed trl_entropy package.*copy it first"):
        analyze_run(TINY_STEPS_POLICY_PATH, **SMALL)
    assert not os.path.exists(os.path.join(TINY_STEPS_POLICY_PATH, ANALYSIS_DIRNAME))
    with pytest.raises(AnalysisInputError, match="Cannot tell which task"):
        analyze_run(run_dir, **{**SMALL, "benchmark": None})
    with pytest.raises(AnalysisInputError, match="`num_samples` must be an integer >= 2, got 1"):
        analyze_run(run_dir, **{**SMALL, "num_samples": 1})
    from trl_entropy.cli import main

    with pytest.raises(SystemExit, match="trl-entropy analyze: error: .*Cannot tell which task"):
        main(["analyze", run_dir, "--embedder", "none"])


def test_analyze_several_runs_side_by_side(tmp_path, run_dir, capsys):
    import matplotlib  # noqa: F401  (the test extra installs it: a missing one must fail, not skip)

    other = str(tmp_path / "other")
    shutil.copytree(run_dir, other)
    output = str(tmp_path / "comparison")
    from trl_entropy.analysis.cli import main

    main([run_dir, other, "--benchmark", "countdown-steps", "--num-prompts", "2", "--num-samples", "2",
          "--embedder", "none", "--output", output])  # fmt: skip
    printed = capsys.readouterr().out
    assert printed.count("not measurable: Entropy falls") == 2 and "side by side" in printed
    with open(os.path.join(output, "report.html"), encoding="utf-8") as f:
        page = f.read()
    assert "<th>run</th><th>other</th>" in page
    assert os.path.isfile(os.path.join(output, "figures", "profile.png"))
    with open(os.path.join(output, "summary.json")) as f:
        assert [run["run"] for run in json.load(f)["runs"]] == ["run", "other"]


def test_two_processes_write_what_one_process_writes(tmp_path, run_dir):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent
    single = str(tmp_path / "single")
    shutil.copytree(run_dir, single)
    analyze([single], impact_positions=4, impact_k=4, **{**SMALL, "batch_size": 8})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(root)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               str(root / "scripts" / "two_process_analyze_check.py"), run_dir]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    summaries = []
    for folder in (single, run_dir):
        with open(os.path.join(folder, ANALYSIS_DIRNAME, "summary.json")) as f:
            summaries.append(json.load(f))
        assert not any(".part-" in name for name in os.listdir(os.path.join(folder, ANALYSIS_DIRNAME)))
    one, two = summaries
    assert two["metrics"] == pytest.approx(one["metrics"], nan_ok=True)
    assert two["impact"].pop("points") == one["impact"].pop("points")
    assert two["impact"] == pytest.approx(one["impact"], nan_ok=True)
    assert two["num_completions"] == one["num_completions"] == 16


def test_report_shows_the_aggregates_of_each_training_stage(tmp_path):
    from trl_entropy.analysis.render import write_report_html

    summary = {"metrics": {"entropy": 0.3}, "claims": [], "stages": {"per_stage": {
        "rising": {"entropy": 0.41, "entropy_u_shape": 0.05}, "plateau": {"entropy": 0.27, "entropy_u_shape": None}}}}  # fmt: skip
    path = write_report_html([("run", summary)], {}, str(tmp_path / "report.html"))
    with open(path, encoding="utf-8") as f:
        page = f.read()
    assert "By training stage" in page
    assert "<td>run</td><td>rising</td><td>0.41</td>" in page and "<td>run</td><td>plateau</td><td>0.27</td>" in page
    assert "pip install &quot;trl-entropy[viz]&quot;" in page or "trl-entropy[viz]" in page  # no figures: says why

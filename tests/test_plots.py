# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Plots: several runs on one figure, and the token-entropy HTML page with the recorder that feeds it."""

import json
import math
import re
from html.parser import HTMLParser

import pytest
import torch
from conftest import cpu_grpo_kwargs
from trl import GRPOConfig

import trl_entropy.plotting as plotting
from trl_entropy import EntropyGRPOTrainer
from trl_entropy.cli import main
from trl_entropy.plotting import plot_runs
from trl_entropy.tasks import countdown_reward, load_tiny_policy
from trl_entropy.token_entropy import (
    TokenEntropyRecorder,
    entropy_color,
    load_token_entropies,
    write_token_entropy_html,
)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

BASELINE = [
    {"step": 1, "reward": 0.2, "entropy": 0.50, "completions/mean_length": 10.0},
    {"step": 2, "reward": 0.3, "entropy": 0.45, "completions/mean_length": 11.0},
    {"step": 3, "reward": 0.4, "entropy": 0.40, "completions/mean_length": 12.0},
    {"step": 3, "train_runtime": 1.0},
]
METHOD = [
    {"step": 1, "reward": 0.2, "entropy": 0.50, "completions/mean_length": 10.0, "entropy/advantage_psi_mean": 0.1},
    {"step": 2, "reward": 0.4, "entropy": 0.55, "completions/mean_length": 9.0, "entropy/advantage_psi_mean": 0.2},
    {"step": 3, "reward": 0.5, "entropy": 0.52, "completions/mean_length": 9.5, "entropy/advantage_psi_mean": 0.15},
]


def write_run(directory, log_history):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "trainer_state.json").write_text(json.dumps({"log_history": log_history}))
    return directory


@pytest.fixture
def drawn_panels(monkeypatch):
    """The panels (title -> {line label -> (steps, values)}) of every figure drawn, in order."""
    panels = []
    draw = plotting._draw_panels

    def spy(figure_panels, *args, **kwargs):
        panels.append({title: dict(lines) for title, lines in figure_panels.items()})
        return draw(figure_panels, *args, **kwargs)

    monkeypatch.setattr(plotting, "_draw_panels", spy)
    return panels


# ---------------------------------------------------------------------------------------------------------------------
# Several runs on one figure
# ---------------------------------------------------------------------------------------------------------------------


def test_plot_runs_draws_one_line_per_run_and_every_method_metric(tmp_path, drawn_panels):
    png = tmp_path / "comparison.png"
    plotted = plot_runs({"grpo": BASELINE, "entropy advantage": METHOD}, png, title="tiny countdown")
    assert png.read_bytes()[:8] == PNG_MAGIC
    # The method metric logged by one run only gets its own panel; absent defaults are left out.
    assert plotted == ["reward", "entropy", "completions/mean_length", "entropy/advantage_psi_mean"]
    (panels,) = drawn_panels
    assert list(panels["reward"]) == ["grpo", "entropy advantage"]
    assert panels["entropy"]["entropy advantage"] == ([1, 2, 3], [0.50, 0.55, 0.52])
    assert list(panels["entropy/advantage_psi_mean"]) == ["entropy advantage"]


def test_plot_runs_labels_run_directories_by_name(tmp_path, drawn_panels):
    base = write_run(tmp_path / "grpo", BASELINE)
    method = write_run(tmp_path / "entropy_advantage", METHOD)
    plotted = plot_runs([str(base), str(method / "trainer_state.json")], tmp_path / "out.png", keys=["reward"])
    assert plotted == ["reward"]
    assert list(drawn_panels[0]["reward"]) == ["grpo", "entropy_advantage"]
    # Two runs whose directories share a name keep their paths apart.
    other = write_run(tmp_path / "other" / "grpo", METHOD)
    plot_runs([base, other], tmp_path / "out.png", keys=["reward"])
    assert list(drawn_panels[1]["reward"]) == [str(base), str(other)]


def test_plot_runs_takes_colours_per_run(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(plotting, "_draw_panels", lambda panels, output, **kwargs: drawn.append(kwargs["colors"]))
    plot_runs({"grpo": BASELINE, "entropy advantage": METHOD}, tmp_path / "out.png", colors={"grpo": "black"})
    plot_runs({"grpo": BASELINE, "entropy advantage": METHOD}, tmp_path / "out.png")
    # A run without a given colour keeps its default one.
    assert drawn == [{"grpo": "black", "entropy advantage": "C1"}, {"grpo": "C0", "entropy advantage": "C1"}]


def test_plot_runs_names_a_key_no_run_logged_and_the_available_ones(tmp_path):
    with pytest.raises(ValueError, match=r"'kl' was logged by none of the runs.*available keys: .*reward"):
        plot_runs({"a": BASELINE, "b": METHOD}, tmp_path / "out.png", keys=["reward", "kl"])
    assert not (tmp_path / "out.png").exists()


def test_plot_runs_reports_a_missing_run_or_state_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plot_runs([str(tmp_path / "nowhere")], tmp_path / "out.png")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(FileNotFoundError, match="No trainer_state.json in"):
        plot_runs([str(tmp_path / "empty_run")], tmp_path / "out.png")


def test_cli_plot_compares_several_run_directories(tmp_path, capsys, monkeypatch, drawn_panels):
    base = write_run(tmp_path / "grpo", BASELINE)
    method = write_run(tmp_path / "ea", METHOD)
    png = tmp_path / "labelled.png"
    main(["plot", str(base), str(method), "--labels", "baseline", "method", "--output", str(png)])
    assert png.read_bytes()[:8] == PNG_MAGIC
    out = capsys.readouterr().out
    assert f"plotted reward, entropy, completions/mean_length, entropy/advantage_psi_mean to {png}" in out
    assert list(drawn_panels[0]["reward"]) == ["baseline", "method"]

    monkeypatch.chdir(tmp_path)
    main(["plot", str(base), str(method), "--keys", "entropy"])
    assert (tmp_path / "runs_comparison.png").read_bytes()[:8] == PNG_MAGIC
    assert list(drawn_panels[1]) == ["entropy"]
    assert list(drawn_panels[1]["entropy"]) == ["grpo", "ea"]

    with pytest.raises(SystemExit) as exit_info:
        main(["plot", str(base), str(method), "--labels", "only-one"])
    assert exit_info.value.code == 2
    assert "one label per run" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------------
# Token-entropy page
# ---------------------------------------------------------------------------------------------------------------------


class PageParser(HTMLParser):
    """Collects every tag with its attributes, and the text and attributes of each token span (class `t`)."""

    def __init__(self):
        super().__init__()
        self.tags = []
        self.tokens = []  # (attributes, text)
        self._depth = None  # nesting depth inside the current token span

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if self._depth is not None:
            self._depth += tag == "span"
        elif tag == "span" and attrs.get("class") == "t":
            self.tokens.append((attrs, ""))
            self._depth = 0

    def handle_endtag(self, tag):
        if self._depth is not None and tag == "span":
            self._depth = None if self._depth == 0 else self._depth - 1

    def handle_data(self, data):
        if self._depth is not None:
            attrs, text = self.tokens[-1]
            self.tokens[-1] = (attrs, text + data)


def parse_page(path):
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def background(attrs) -> tuple[int, int, int]:
    color = re.search(r"background:\s*#([0-9a-f]{6})", attrs["style"]).group(1)
    return tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))


RECORDS = [
    {
        "step": 1,
        "tokens": ["3", "<b>", " ", "&"],
        "entropies": [0.1, 0.9, 0.5, 2.0],
        "advantage": 0.5,
        "prompt": "x<y",
    },
    {"step": 1, "tokens": ["\n", "", '"q"'], "entropies": [1.5, 0.0, 0.3], "advantage": -0.5},
    {"step": 4, "tokens": ["=", "7"], "entropies": [0.2, 1.0]},
]


def test_token_page_is_self_contained_and_colours_each_token(tmp_path):
    page = tmp_path / "page.html"
    assert write_token_entropy_html(RECORDS, page, max_entropy=1.0, title="tiny <run>") == str(page)
    raw = page.read_text(encoding="utf-8")
    parsed = parse_page(page)

    # Nothing is fetched: no script, stylesheet link, frame, image or any URL.
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "link", "iframe", "img", "object", "embed"}
    assert not any(name in ("src", "href") for _, attrs in parsed.tags for name in attrs)
    assert "src=" not in raw and "http" not in raw.lower() and "@import" not in raw and "url(" not in raw

    # One span per token, in order, with the text escaped (no stray `<b>` tag) and whitespace made visible.
    tokens = [token for record in RECORDS for token in record["tokens"]]
    entropies = [value for record in RECORDS for value in record["entropies"]]
    assert len(parsed.tokens) == len(tokens) == 9
    assert [text for _, text in parsed.tokens] == ["3", "<b>", " ", "&", "↵\n", "∅", '"q"', "=", "7"]
    assert "b" not in tags and "&lt;b&gt;" in raw and "x&lt;y" in raw and "tiny &lt;run&gt;" in raw
    assert [attrs["title"] for attrs, _ in parsed.tokens] == [f"{value:.4f}" for value in entropies]

    # White to red: a higher entropy has a darker, more saturated background; at and above the max it is pure red.
    colors = [background(attrs) for attrs, _ in parsed.tokens]
    assert colors[entropies.index(0.0)] == (255, 255, 255)
    assert colors[entropies.index(1.0)] == colors[entropies.index(2.0)] == (255, 0, 0)  # 2.0 is clamped to the max
    low, high = colors[0], colors[2]  # entropies 0.1 and 0.5
    assert low[0] == high[0] == 255 and high[1] < low[1] and high[2] < low[2]
    by_entropy = [color for _, color in sorted(zip(entropies, colors, strict=True))]
    assert all(later[1] <= earlier[1] for earlier, later in zip(by_entropy, by_entropy[1:], strict=False))

    # Grouped by step, in step order.
    headings = re.findall(r"<h2[^>]*>Step (\d+)</h2>", raw)
    assert headings == ["1", "4"]
    assert raw.index("Step 4") > raw.index("&lt;b&gt;")


def test_entropy_color_scale_and_default_maximum(tmp_path):
    assert entropy_color(0.0, 2.0) == "#ffffff"
    assert entropy_color(1.0, 2.0) == "#ff8080"
    assert entropy_color(5.0, 2.0) == "#ff0000"
    assert entropy_color(float("nan"), 2.0) == "#ffffff"
    # Default scale: the 99th percentile, so one outlier does not wash out the page.
    records = [{"step": 1, "tokens": ["a"] * 200 + ["b"], "entropies": [1.0] * 200 + [50.0]}]
    page = write_token_entropy_html(records, tmp_path / "page.html")
    parsed = parse_page(tmp_path / "page.html")
    assert {background(attrs) for attrs, _ in parsed.tokens} == {(255, 0, 0)}
    assert "&ge; 1</span>" in open(page, encoding="utf-8").read()


def test_token_page_from_jsonl_through_the_cli(tmp_path, capsys):
    jsonl = tmp_path / "token_entropies.jsonl"
    jsonl.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    main(["token-html", str(jsonl)])
    page = tmp_path / "token_entropies.html"
    assert f"wrote {page}" in capsys.readouterr().out
    assert len(parse_page(page).tokens) == 9
    main(["token-html", str(jsonl), "--output", str(tmp_path / "other.html"), "--max-entropy", "4"])
    assert "&ge; 4</span>" in (tmp_path / "other.html").read_text(encoding="utf-8")
    jsonl.write_text(json.dumps({"step": 1, "tokens": ["a", "b"], "entropies": [0.1]}) + "\n")
    with pytest.raises(SystemExit) as exit_info:  # a clean error, not a traceback
        main(["token-html", str(jsonl)])
    assert exit_info.value.code == 2
    assert "A record of step 1 has 2 tokens but 1 entropies" in capsys.readouterr().err


def completion_badges(raw):
    """(mark, meta line) of each completion of a page, in order."""
    return re.findall(r'<div class="meta">(?:<span class="(correct|wrong)">[^<]*</span> )?([^<]*)</div>', raw)


def test_token_page_marks_correct_completions_and_shows_their_rewards(tmp_path):
    records = [
        {"step": 1, "tokens": ["3"], "entropies": [0.1], "reward": 1.0, "advantage": 0.5},
        {"step": 1, "tokens": ["4"], "entropies": [0.2], "reward": 0.0, "advantage": -0.5},
        {"step": 2, "tokens": ["5"], "entropies": [0.3], "reward": None},  # no reward function scored it
        {"step": 2, "tokens": ["6"], "entropies": [0.4]},  # recorded without rewards
    ]
    raw = open(write_token_entropy_html(records, tmp_path / "binary.html"), encoding="utf-8").read()
    assert completion_badges(raw) == [
        ("correct", "reward +1.000, 1 tokens, mean entropy 0.100, advantage +0.500"),
        ("wrong", "reward +0.000, 1 tokens, mean entropy 0.200, advantage -0.500"),
        ("", "1 tokens, mean entropy 0.300"),
        ("", "1 tokens, mean entropy 0.400"),
    ]
    assert "✓ correct" in raw and "✗ wrong" in raw
    assert re.findall(r"<h2[^>]*>([^<]*)</h2>", raw) == ["Step 1 (1/2 correct)", "Step 2"]
    assert "4 completion(s), 1/2 correct, 4 token(s)" in raw

    # Rewards on another scale (shaped, several reward functions) are not correctness: numbers only.
    shaped = [dict(records[0], reward=0.7), dict(records[1], reward=1.0)]
    raw = open(write_token_entropy_html(shaped, tmp_path / "shaped.html"), encoding="utf-8").read()
    assert [mark for mark, _ in completion_badges(raw)] == ["", ""]
    assert "reward +0.700" in raw and "correct" not in raw.split("</style>")[1]
    # An explicit `correct` field wins.
    marked = [dict(shaped[0], correct=True), dict(shaped[1], correct=False)]
    raw = open(write_token_entropy_html(marked, tmp_path / "marked.html"), encoding="utf-8").read()
    assert [mark for mark, _ in completion_badges(raw)] == ["correct", "wrong"]


def test_recorder_records_the_reward_of_each_completion(tokenizer, tmp_path):
    recorder = TokenEntropyRecorder(num_completions=3, path=str(tmp_path / "records.jsonl"))
    ids = torch.tensor(tokenizer(["1+2", "3*4", "5-6"])["input_ids"])
    records = recorder.record_batch(
        1,
        tokenizer,
        ids,
        torch.full(ids.shape, 0.5),
        torch.ones_like(ids),
        advantages=torch.tensor([0.5, -0.5, 0.0]),
        rewards=torch.tensor([1.0, 0.0, float("nan")]),
    )
    assert [record["reward"] for record in records] == [1.0, 0.0, None]
    assert load_token_entropies(tmp_path / "records.jsonl") == records
    without = recorder.record_batch(2, tokenizer, ids, torch.full(ids.shape, 0.5), torch.ones_like(ids))
    assert all("reward" not in record for record in without)


def test_recorder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`every_n_steps` must be an integer >= 1, got 0"):
        TokenEntropyRecorder(every_n_steps=0)
    with pytest.raises(ValueError, match="`num_completions` must be an integer >= 1, got 0"):
        TokenEntropyRecorder(num_completions=0)
    recorder = TokenEntropyRecorder(every_n_steps=50)
    assert [step for step in range(1, 160) if recorder.wants_step(step)] == [1, 50, 100, 150]


# ---------------------------------------------------------------------------------------------------------------------
# Recording during a real training
# ---------------------------------------------------------------------------------------------------------------------


def train_tiny(tokenizer, dataset, output_dir, callbacks=None, **overrides):
    model, _ = load_tiny_policy()
    args = GRPOConfig(**cpu_grpo_kwargs(output_dir, **overrides))
    trainer = EntropyGRPOTrainer(
        model=model,
        reward_funcs=countdown_reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.train()
    return trainer


def test_recorder_writes_the_entropies_of_the_trained_policy(tokenizer, prompt_dataset, tmp_path):
    output_dir = tmp_path / "run"
    output_dir.mkdir()
    (output_dir / "token_entropies.jsonl").write_text('{"step": 1, "tokens": [], "entropies": []}\n')  # earlier run
    every = TokenEntropyRecorder(every_n_steps=1, num_completions=8)  # the whole micro-batch, default path
    two = TokenEntropyRecorder(every_n_steps=1, num_completions=2, path=str(tmp_path / "two.jsonl"))
    trainer = train_tiny(tokenizer, prompt_dataset, output_dir, callbacks=[every, two])

    full = load_token_entropies(output_dir / "token_entropies.jsonl")  # the earlier run's line is gone
    assert [record["step"] for record in full] == [1] * 8 + [2] * 8
    records = load_token_entropies(tmp_path / "two.jsonl")
    assert [record["step"] for record in records] == [1, 1, 2, 2]
    assert records == full[0:2] + full[8:10]  # the first completions of the same micro-batch

    logged = {entry["step"]: entry for entry in trainer.state.log_history if "entropy" in entry}
    for step in (1, 2):
        step_records = [record for record in full if record["step"] == step]
        for record in step_records:
            assert 1 <= len(record["tokens"]) == len(record["entropies"]) <= 8
            assert all(isinstance(token, str) for token in record["tokens"])
            assert all(0 <= value <= math.log(len(tokenizer)) + 1e-4 for value in record["entropies"])
        # The micro-batch is the whole step: the token mean of the recorded entropies is TRL's logged entropy.
        values = [value for record in step_records for value in record["entropies"]]
        assert sum(values) / len(values) == pytest.approx(logged[step]["entropy"], abs=1e-4)
        # TRL's group-normalised advantages (2 groups of 4), before any shaping: they sum to zero.
        assert sum(record["advantage"] for record in step_records) == pytest.approx(0.0, abs=1e-4)
        # Each completion's reward, from the trainer: the step's logged mean reward is their mean.
        rewards = [record["reward"] for record in step_records]
        assert sum(rewards) / len(rewards) == pytest.approx(logged[step]["reward"], abs=1e-6)
        # The countdown reward scores each completion 0 or 1.
        for record in step_records:
            assert record["reward"] in (0.0, 1.0)
        assert all(record["prompt"] for record in step_records)

    page = tmp_path / "page.html"
    write_token_entropy_html(output_dir / "token_entropies.jsonl", page)
    parsed = parse_page(page)
    assert len(parsed.tokens) == sum(len(record["tokens"]) for record in full)
    assert not {tag for tag, _ in parsed.tags} & {"script", "link"}


def test_recorder_takes_the_first_micro_batch_and_leaves_training_unchanged(tokenizer, prompt_dataset, tmp_path):
    settings = dict(per_device_train_batch_size=4, gradient_accumulation_steps=2)
    plain = train_tiny(tokenizer, prompt_dataset, tmp_path / "plain", **settings)
    recorder = TokenEntropyRecorder(every_n_steps=2, num_completions=8)
    recorded = train_tiny(tokenizer, prompt_dataset, tmp_path / "recorded", callbacks=[recorder], **settings)

    records = load_token_entropies(tmp_path / "recorded" / "token_entropies.jsonl")
    # Steps 1 and 2, one micro-batch (4 completions) each, although each step has two.
    assert [record["step"] for record in records] == [1] * 4 + [2] * 4
    for name, parameter in plain.model.named_parameters():
        assert torch.equal(parameter, dict(recorded.model.named_parameters())[name]), name
    assert [entry.get("loss") for entry in plain.state.log_history] == [
        entry.get("loss") for entry in recorded.state.log_history
    ]


def test_recipe_script_records_token_entropies_when_asked(tmp_path):
    from trl_entropy.scripts.train import main as train_main

    output_dir = tmp_path / "run"
    train_main(
        ["--config", "recipes/tiny/grpo.yaml", "--output_dir", str(output_dir), "--max_steps", "2",
         "--per_device_train_batch_size", "8", "--task_eval_problems", "0", "--disable_tqdm", "true",
         "--record_token_entropies_every", "1"]
    )  # fmt: skip
    records = load_token_entropies(output_dir / "token_entropies.jsonl")
    assert [record["step"] for record in records] == [1] * 4 + [2] * 4
    parsed = parse_page(output_dir / "token_entropies.html")
    assert len(parsed.tokens) == sum(len(record["tokens"]) for record in records)


def test_many_runs_share_one_legend_below_the_panels(tmp_path, monkeypatch):
    import matplotlib.axes
    import matplotlib.figure

    legends = []
    monkeypatch.setattr(matplotlib.axes.Axes, "legend", lambda self, *a, **k: legends.append("panel"))
    monkeypatch.setattr(matplotlib.figure.Figure, "legend", lambda self, *a, **k: legends.append(("figure", a)))
    history = [{"step": step, "reward": step / 10, "entropy": 1 - step / 10} for step in range(1, 4)]
    few = {f"run{i}": history for i in range(plotting.SHARED_LEGEND_ABOVE)}
    plot_runs(few, tmp_path / "few.png", keys=["reward", "entropy"])
    assert legends == ["panel", "panel"]  # a legend in each panel
    legends.clear()
    many = {f"run{i}": history for i in range(plotting.SHARED_LEGEND_ABOVE + 1)}
    plot_runs(many, tmp_path / "many.png", keys=["reward", "entropy"])
    [(kind, (handles, labels))] = legends  # one legend for the figure, every run once
    assert kind == "figure" and labels == list(many) and len(handles) == len(many)
    assert (tmp_path / "many.png").stat().st_size > 0

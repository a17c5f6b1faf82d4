"""Tests of the tiny-policy builder (`trl_entropy.tasks.build_policy`) and of the shipped `tiny_countdown_steps`."""

import hashlib
import json
import os
import random
import re

import pytest
import torch
from transformers import AutoTokenizer

from trl_entropy.tasks import build_policy as bp
from trl_entropy.tasks import countdown_steps
from trl_entropy.tasks.countdown import TINY_POLICY_PATH, _generate, evaluate_pass_at_1, load_tiny_policy
from trl_entropy.tasks.names import TINY_STEPS_POLICY_PATH


STEPS_TEXTS = ["3 5 7 2=30:7*5=35,35-3=32,32-2=30", "9 9 9 9=81:9*9=81,81+9=90,90-9=81", " 0123456789+-*=:, "]


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def steps_policy():
    return load_tiny_policy(path=TINY_STEPS_POLICY_PATH)


@pytest.fixture(scope="module")
def steps_readme():
    with open(os.path.join(TINY_STEPS_POLICY_PATH, "README.md")) as f:
        return f.read()


class TestTokenizer:
    def test_countdown_vocabulary_is_the_shipped_one(self):
        # The Countdown build must keep its vocabulary (ids and order), or its weights would no longer be reproducible.
        with open(os.path.join(TINY_POLICY_PATH, "tokenizer.json")) as f:
            shipped = json.load(f)["model"]["vocab"]
        assert bp.build_tokenizer().get_vocab() == shipped

    def test_steps_tokenizer_round_trips_and_reloads_identically(self, tmp_path):
        tokenizer = bp.build_tokenizer(countdown_steps.CHARACTERS, bp.STEPS_MAX_POSITIONS)
        assert len(tokenizer) == 3 + len(countdown_steps.CHARACTERS) == 20
        assert "," in countdown_steps.CHARACTERS and tokenizer.convert_tokens_to_ids(",") == 3 + 15
        bp._save_tokenizer(tokenizer, tmp_path)
        reloaded = AutoTokenizer.from_pretrained(tmp_path)
        assert type(reloaded).__name__ == "Qwen2Tokenizer" and len(reloaded) == 20
        for text in STEPS_TEXTS:
            ids = tokenizer(text, add_special_tokens=False).input_ids
            assert len(ids) == len(text)  # one token per character, spaces and commas included
            assert reloaded(text).input_ids == reloaded(text, add_special_tokens=False).input_ids == ids
            assert tokenizer.decode(ids) == reloaded.decode(ids) == text
        ids = reloaded("1+2=3<eos><pad>", add_special_tokens=False).input_ids
        assert ids[-2:] == [reloaded.eos_token_id, reloaded.pad_token_id] == [2, 0]
        assert reloaded.decode(ids, skip_special_tokens=True) == "1+2=3"
        bp.check_reloaded_tokenizer(tokenizer, reloaded, bp._tokenizer_probes(bp.policy_task("countdown-steps")))

    def test_reload_check_catches_a_different_tokenizer(self):
        steps = bp.build_tokenizer(countdown_steps.CHARACTERS)
        with pytest.raises(RuntimeError, match="disagrees"):
            bp.check_reloaded_tokenizer(steps, bp.build_tokenizer(), ["1 2=3: "])

    @pytest.mark.parametrize("name", ["countdown", "countdown-steps"])
    def test_shipped_tokenizer_files_are_what_the_build_writes(self, name, tmp_path):
        task = bp.policy_task(name)
        bp._save_tokenizer(bp.build_tokenizer(task.characters, task.max_positions), tmp_path)
        for file_name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            assert _sha256(tmp_path / file_name) == _sha256(os.path.join(task.output_dir, file_name)), file_name

    def test_characters_must_be_distinct(self):
        with pytest.raises(ValueError, match="distinct"):
            bp.build_tokenizer(tuple("0123+-+"))


class TestTasks:
    def test_registry(self):
        assert set(bp.TASKS) == {"countdown", "countdown-steps"}
        countdown, steps = bp.policy_task("countdown"), bp.policy_task("countdown-steps")
        assert countdown.output_dir == TINY_POLICY_PATH and steps.output_dir == TINY_STEPS_POLICY_PATH
        assert bp.policy_task(steps) is steps
        with pytest.raises(ValueError, match="Unknown task 'nope'"):
            bp.policy_task("nope")

    def test_steps_positions_hold_the_longest_sequences(self):
        task = bp.policy_task("countdown-steps")
        longest_prompt = max(len(p["prompt"]) for p in countdown_steps.generate_problems(2000, seed=0))
        assert longest_prompt == len("9 9 9 9=99:")
        assert task.max_new_tokens > countdown_steps.MAX_COMPLETION_CHARS  # room for the trace and its EOS
        assert task.max_positions >= longest_prompt + task.max_new_tokens

    def test_traces_are_correct_and_encoded_on_the_completion_only(self):
        task = bp.policy_task("countdown-steps")
        tokenizer = bp.build_tokenizer(task.characters)
        char_to_id = {c: tokenizer.convert_tokens_to_ids(bp._byte_level_symbol(c)) for c in task.characters}
        problems = task.sample_problems(6, seed=1, split="train")
        rng = random.Random(0)
        input_ids, attention_mask, labels = bp._encode_batch(problems, rng, char_to_id, 0, 2, task.sample_solution)
        for row, problem in enumerate(problems):
            length = int(attention_mask[row].sum())
            text = tokenizer.decode(input_ids[row, :length])
            assert text.startswith(problem["prompt"]) and text.endswith("<eos>")
            completion = text[len(problem["prompt"]) :]
            assert task.score(completion, problem["numbers"], problem["target"]) == 1.0
            prompt_length = len(problem["prompt"])
            assert (labels[row, :prompt_length] == -100).all() and (labels[row, length:] == -100).all()
            assert torch.equal(labels[row, prompt_length:length], input_ids[row, prompt_length:length])


class TestSchedule:
    def test_countdown_keeps_warmup_then_constant(self):
        factor = bp._lr_factor(600, 0.0)
        assert [factor(step) for step in (0, 9, 19, 20, 599)] == [1 / 20, 10 / 20, 1.0, 1.0, 1.0]

    def test_steps_decays_linearly_to_zero_over_the_last_third(self):
        task = bp.policy_task("countdown-steps")
        factor = bp._lr_factor(3000, task.decay_fraction)
        assert factor(0) == 1 / 20 and factor(1999) == 1.0 and factor(2000) == 1.0
        assert factor(2500) == pytest.approx(0.5) and factor(2999) == pytest.approx(1 / 1000)
        lrs = [factor(step) for step in range(2000, 3000)]
        assert lrs == sorted(lrs, reverse=True)


class TestShortBuild:
    def test_deterministic_and_loadable(self, tmp_path, monkeypatch):
        # Few samples for the README's pass@k: the build's evaluation, not its training, is what takes time here.
        monkeypatch.setattr(bp, "PASS_AT_K_SAMPLES", 4)
        state = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.get_rng_state())
        kwargs = dict(steps=3, batch_size=8, task="countdown-steps", readme_problems=3)
        first = bp.build_policy(str(tmp_path / "a"), **kwargs)
        second = bp.build_policy(str(tmp_path / "b"), **kwargs)
        # The build leaves the caller's torch settings and RNG as they were.
        assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == state[:2]
        assert torch.equal(torch.get_rng_state(), state[2])
        a, b = tmp_path / "a" / "model.safetensors", tmp_path / "b" / "model.safetensors"
        assert _sha256(a) == _sha256(b)
        assert first["eval"] == second["eval"] and first["pass_at_k"] == second["pass_at_k"]
        assert first["num_parameters"] == 791_040 and first["vocab_size"] == 20
        model, tokenizer = load_tiny_policy(path=str(tmp_path / "a"))
        assert model.config.vocab_size == len(tokenizer) == 20
        assert model.config.max_position_embeddings == bp.STEPS_MAX_POSITIONS
        assert model.generation_config.max_new_tokens == bp.STEPS_MAX_NEW_TOKENS
        readme = (tmp_path / "a" / "README.md").read_text()
        assert "--task countdown-steps" in readme and "| pass@k |" in readme
        # A different seed gives different weights: the check above is not comparing constants.
        bp.build_policy(str(tmp_path / "c"), seed=1, **kwargs)
        assert _sha256(tmp_path / "c" / "model.safetensors") != _sha256(a)

    def test_countdown_short_build_is_deterministic_with_or_without_evaluation(self, tmp_path):
        kwargs = dict(steps=2, batch_size=8, readme_problems=4)
        first = bp.build_policy(str(tmp_path / "a"), **kwargs)
        bp.build_policy(str(tmp_path / "b"), **kwargs)
        assert _sha256(tmp_path / "a" / "model.safetensors") == _sha256(tmp_path / "b" / "model.safetensors")
        assert "pass_at_k" not in first and first["vocab_size"] == 19
        readme = (tmp_path / "a" / "README.md").read_text()
        assert "| pass@k |" not in readme and "--task" not in readme
        # The periodic evaluation changes neither the weights nor the saved files (its padded calls used to leave
        # padding enabled in tokenizer.json).
        bp.build_policy(str(tmp_path / "c"), eval_every=1, eval_problems=2, **kwargs)
        for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "config.json"):
            assert _sha256(tmp_path / "a" / name) == _sha256(tmp_path / "c" / name), name


class TestMeasurePassAtK:
    def test_entropy_matches_a_teacher_forced_forward(self, steps_policy):
        model, tokenizer = steps_policy
        torch.manual_seed(3)
        texts, entropy_sum, num_tokens = bp._sample_with_entropy(model, tokenizer, ["3 5 7 2=30:"], 6, 1.0, 26)
        prompt_ids = tokenizer("3 5 7 2=30:", add_special_tokens=False).input_ids
        expected_sum, expected_tokens = 0.0, 0
        for text in texts:
            completion_ids = tokenizer(text, add_special_tokens=False).input_ids
            stopped = len(completion_ids) < 26
            ids = torch.tensor([prompt_ids + completion_ids + ([tokenizer.eos_token_id] if stopped else [])])
            with torch.no_grad():
                logits = model(ids).logits[0, len(prompt_ids) - 1 : -1]
            log_probs = logits.log_softmax(-1)
            expected_sum += float(-(log_probs.exp() * log_probs).sum())
            expected_tokens += ids.shape[1] - len(prompt_ids)
        assert num_tokens == expected_tokens
        assert entropy_sum == pytest.approx(expected_sum, rel=1e-4)

    def test_curve_properties(self, steps_policy):
        model, tokenizer = steps_policy
        task = bp.policy_task("countdown-steps")
        problems = task.generate_problems(6, seed=0, split="test")
        state = torch.get_rng_state()
        kwargs = dict(num_samples=8, max_new_tokens=task.max_new_tokens, batch_size=24)  # two generate calls
        curve = bp.measure_pass_at_k(model, tokenizer, problems, task.score, **kwargs)
        assert torch.equal(state, torch.get_rng_state())
        assert curve == bp.measure_pass_at_k(model, tokenizer, problems, task.score, **kwargs)  # seeded
        values = [curve[f"pass@{k}"] for k in (1, 2, 4, 8)]
        assert values == sorted(values) and 0.0 < values[0] < 1.0
        assert curve["pass@8"] == curve["solved_share"]  # with k = n, pass@k is "at least one correct sample"
        assert curve["mean_token_entropy"] > 0 and 11 <= curve["mean_completion_tokens"] <= task.max_new_tokens
        nothing = bp.measure_pass_at_k(model, tokenizer, problems, lambda *args: 0.0, **kwargs)
        assert nothing["pass@8"] == 0.0 and nothing["mean_token_entropy"] == curve["mean_token_entropy"]


class TestShippedStepsPolicy:
    def test_files(self):
        names = set(os.listdir(TINY_STEPS_POLICY_PATH))
        assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
        assert os.stat(os.path.join(TINY_STEPS_POLICY_PATH, "model.safetensors")).st_mode & 0o044 == 0o044
        assert os.path.getsize(os.path.join(TINY_STEPS_POLICY_PATH, "model.safetensors")) < 5_000_000

    def test_loads_with_the_expected_vocabulary(self, steps_policy):
        model, tokenizer = steps_policy
        assert len(tokenizer) == model.config.vocab_size == 20
        assert sum(p.numel() for p in model.parameters()) == 791_040
        expected = bp.build_tokenizer(countdown_steps.CHARACTERS, bp.STEPS_MAX_POSITIONS)
        assert tokenizer.get_vocab() == expected.get_vocab()
        assert tokenizer.padding_side == "left"
        assert (model.config.eos_token_id, model.generation_config.eos_token_id) == (tokenizer.eos_token_id,) * 2
        for text in STEPS_TEXTS:
            assert tokenizer.decode(tokenizer(text).input_ids) == text

    def test_readme_figures(self, steps_policy, steps_readme):
        pass_at_1 = float(re.search(r"\| pass@1, temperature 1\.0 \| ([0-9.]+) \|", steps_readme).group(1))
        greedy = float(re.search(r"\| greedy accuracy \| ([0-9.]+) \|", steps_readme).group(1))
        num_problems = int(re.search(r'generate_problems\((\d+), seed=0, split="test"\)`, 8 samples', steps_readme)[1])
        assert 0.15 <= pass_at_1 <= 0.45  # the band that leaves RL headroom
        # Greedy decoding needs no RNG: recompute the README's greedy figure on its own problems (a few seconds), in
        # the batches of 256 prompts that `evaluate_pass_at_1` uses.
        model, tokenizer = steps_policy
        task = bp.policy_task("countdown-steps")
        problems = task.generate_problems(num_problems, seed=bp.EVAL_SEED, split="test")
        correct = 0.0
        for start in range(0, len(problems), 256):
            chunk = problems[start : start + 256]
            texts = _generate(model, tokenizer, [p["prompt"] for p in chunk], False, None, task.max_new_tokens, 1)
            correct += sum(task.score(t, p["numbers"], p["target"]) for t, p in zip(texts, chunk, strict=True))
        assert f"{correct / len(problems):.3f}" == f"{greedy:.3f}"  # as the README rounds it

    @pytest.mark.slow
    def test_readme_pass_at_1_recomputed(self, steps_policy, steps_readme):
        pass_at_1 = float(re.search(r"\| pass@1, temperature 1\.0 \| ([0-9.]+) \|", steps_readme).group(1))
        model, tokenizer = steps_policy
        task = bp.policy_task("countdown-steps")
        problems = task.generate_problems(bp.EVAL_PROBLEMS, seed=bp.EVAL_SEED, split="test")
        figures = evaluate_pass_at_1(
            model,
            tokenizer,
            problems,
            num_samples=bp.EVAL_SAMPLES,
            max_new_tokens=task.max_new_tokens,
            score=task.score,
        )
        assert f"{figures['pass_at_1']:.3f}" == f"{pass_at_1:.3f}"  # as the README rounds it

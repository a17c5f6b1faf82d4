"""Fast tests for the embedded Countdown task and its shipped tiny policy."""

import json
import os

import pytest
import torch

from trl_entropy.tasks import (
    TINY_POLICY_PATH,
    countdown_reward,
    evaluate_pass_at_1,
    format_prompt,
    generate_problems,
    load_tiny_policy,
    num_problems,
    parse_expression,
    score_completion,
    solve,
)


def _key(problem):
    return tuple(sorted(problem["numbers"])), problem["target"]


@pytest.fixture(scope="module")
def policy():
    return load_tiny_policy()


class TestGenerator:
    # Determinism, disjoint splits, draw limits, the dataset and the reward's signature: `TestBothTasks` in
    # tests/test_countdown_steps_task.py.

    def test_problems_are_well_formed(self):
        for problem in generate_problems(200, seed=0):
            numbers, target = problem["numbers"], problem["target"]
            assert len(numbers) == 3 and all(1 <= n <= 12 for n in numbers)
            assert problem["prompt"] == format_prompt(numbers, target)
            assert problem["solutions"], "every problem must be solvable"
            assert problem["solutions"] == sorted(problem["solutions"]) == solve(numbers, target)
            assert all(score_completion(s, numbers, target) == 1.0 for s in problem["solutions"])

    def test_several_answers_per_problem(self):
        # Several answers per problem on average: the task must leave room for exploration.
        train = generate_problems(num_problems("train"), seed=0, split="train")
        mean_solutions = sum(len(p["solutions"]) for p in train) / len(train)
        assert 3.0 < mean_solutions < 4.5

    def test_prompt_format(self):
        assert format_prompt([3, 7, 12], 33) == "3 7 12=33:"


class TestScorer:
    @pytest.mark.parametrize(
        "completion, expected",
        [
            ("3*7+12", 1.0),
            ("12+7*3", 1.0),
            ("7*3+12", 1.0),
            ("3 * 7 + 12", 1.0),  # spaces between tokens are tolerated
            ("3*7+12<eos>", 1.0),  # decoded without skip_special_tokens
            ("3*7+12\n", 1.0),
            ("3*7+12<eos>99", 1.0),  # text after EOS is not part of the answer
            ("3+7*12", 0.0),  # valid expression, wrong value (87): precedence matters
            ("12*3-7", 0.0),  # wrong value
            ("", 0.0),
            ("<eos>", 0.0),
            ("3*7+", 0.0),
            ("+3*7+12", 0.0),
            ("-3+7*12", 0.0),  # no unary minus
            ("3*7+12=33", 0.0),
            ("(3*7)+12", 0.0),
            ("3*7/1+12", 0.0),
            ("3*7++12", 0.0),
            ("3 7 12", 0.0),
            ("03*7+12", 0.0),  # leading zero
            ("21+12", 0.0),  # does not use every number
            ("3*7+12+0", 0.0),  # uses an extra number
            ("3*7+3*4", 0.0),
            ("answer: 3*7+12", 0.0),
        ],
    )
    def test_hand_written(self, completion, expected):
        assert score_completion(completion, [3, 7, 12], 33) == expected

    def test_duplicates_and_precedence(self):
        assert score_completion("2+2*2", [2, 2, 2], 6) == 1.0
        assert score_completion("2*2-2", [2, 2, 2], 2) == 1.0
        assert score_completion("2*2", [2, 2, 2], 4) == 0.0
        assert score_completion("10-4-5", [4, 5, 10], 1) == 1.0  # left-associative subtraction
        assert score_completion("10-4-5", [4, 5, 10], 11) == 0.0
        assert score_completion(None, [1, 2, 3], 6) == 0.0

    def test_parse_expression(self):
        assert parse_expression("2+3*4-5") == ([2, 3, 4, 5], 9)
        assert parse_expression("12") == ([12], 12)
        for bad in ("", "2+", "*2", "2**3", "2x3", "1.5+1"):
            assert parse_expression(bad) is None


class TestReward:
    def test_called_like_trl(self):
        # TRL passes everything as keyword arguments, one list entry per completion, plus extra state.
        rewards = countdown_reward(
            prompts=["3 7 12=33:", "3 7 12=33:", "1 2 3=6:"],
            completions=["3*7+12", "3+7+12", "1*2*3"],
            completion_ids=[[0], [0], [0]],
            numbers=[[3, 7, 12], [3, 7, 12], [1, 2, 3]],
            target=[33, 33, 6],
            trainer_state=None,
            log_extra=None,
        )
        assert rewards == [1.0, 0.0, 1.0]
        assert all(isinstance(r, float) for r in rewards)

    def test_conversational_completions(self):
        completions = [[{"role": "assistant", "content": "1+2+3"}], [{"role": "assistant", "content": "1+2"}]]
        assert countdown_reward(prompts=None, completions=completions, numbers=[[1, 2, 3]] * 2, target=[6, 6]) == [
            1.0,
            0.0,
        ]


class TestShippedPolicy:
    def test_files(self):
        names = set(os.listdir(TINY_POLICY_PATH))
        assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
        assert os.path.getsize(os.path.join(TINY_POLICY_PATH, "model.safetensors")) < 5_000_000

    def test_tokenizer_round_trip(self, policy):
        model, tokenizer = policy
        assert len(tokenizer) == model.config.vocab_size == 19
        assert tokenizer.padding_side == "left"
        assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id) == (
            model.config.pad_token_id,
            model.config.eos_token_id,
            model.config.bos_token_id,
        )
        assert model.generation_config.eos_token_id == tokenizer.eos_token_id
        assert model.generation_config.pad_token_id == tokenizer.pad_token_id
        for text in ["3 7 12=33:3*7+12", "12 12 12=1728:12*12*12", " 0123456789+-*=: "]:
            ids = tokenizer(text, add_special_tokens=False).input_ids
            assert len(ids) == len(text)  # one token per character, spaces included
            assert tokenizer(text).input_ids == ids  # no special tokens are added implicitly
            assert tokenizer.decode(ids) == text
        ids = tokenizer("1+2<eos>", add_special_tokens=False).input_ids
        assert ids[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(ids, skip_special_tokens=True) == "1+2"

    def test_parameter_count(self, policy):
        model, _ = policy
        assert sum(p.numel() for p in model.parameters()) == 790_912
        assert model.dtype == torch.float32

    def test_generate_and_evaluate(self, policy):
        model, tokenizer = policy
        problems = generate_problems(64, seed=0, split="test")
        state = torch.get_rng_state()
        first = evaluate_pass_at_1(model, tokenizer, problems, num_samples=4, seed=0)
        assert torch.equal(state, torch.get_rng_state())  # evaluation leaves the global RNG alone
        assert first == evaluate_pass_at_1(model, tokenizer, problems, num_samples=4, seed=0)
        assert first["num_problems"] == 64
        # The shipped warm start solves a fair share of held-out problems but far from all (headroom for RL).
        assert 0.05 < first["pass_at_1"] < 0.7
        assert 0.05 < first["greedy_accuracy"] < 0.8

    def test_readme_states_pass_at_1(self):
        with open(os.path.join(TINY_POLICY_PATH, "README.md")) as f:
            assert "pass@1" in f.read()
        with open(os.path.join(TINY_POLICY_PATH, "config.json")) as f:
            assert json.load(f)["model_type"] == "qwen2"

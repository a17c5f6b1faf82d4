"""Fast tests for the step-by-step Countdown task: parser, scorer, solver, exact labels and the problem set."""

import inspect
import random
from collections import Counter

import pytest
import torch
from transformers import AutoTokenizer

from trl_entropy.tasks import TINY_POLICY_PATH, countdown, countdown_steps, evaluate_pass_at_1
from trl_entropy.tasks.countdown_steps import (
    CHARACTERS,
    DEAD,
    DECISION,
    EOS_TEXT,
    FORCED,
    MAX_COMPLETION_CHARS,
    MAX_NUMBER,
    MAX_RESULT,
    MIN_NUMBER,
    NUM_NUMBERS,
    STEP_SEPARATOR,
    build_dataset,
    count_solutions,
    countdown_steps_reward,
    format_prompt,
    generate_problems,
    label_batch,
    label_completion,
    num_problems,
    parse_steps,
    position_classes,
    random_solution,
    sample_problems,
    score_completion,
    solve,
    viable_next,
)
from trl_entropy.tasks.splits import split_of


NUMBERS, TARGET = [3, 5, 7, 2], 30
CORRECT = "7*5=35,35-3=32,32-2=30"


def _key(problem):
    return tuple(sorted(problem["numbers"])), problem["target"]


@pytest.fixture(scope="module")
def steps_tokenizer():
    # The shipped countdown tokenizer plus the step separator: one token per character of this task.
    tokenizer = AutoTokenizer.from_pretrained(TINY_POLICY_PATH)
    tokenizer.add_tokens([STEP_SEPARATOR])
    return tokenizer


def _ids(tokenizer, completion, width):
    # Right-padded ids the way TRL holds completions; `completion` may end with "<eos>".
    ids = tokenizer(completion, add_special_tokens=False).input_ids
    return (ids + [tokenizer.pad_token_id] * width)[:width]


def _corrupt(completion, rng):
    kind = rng.choice(("substitute", "insert", "delete", "truncate"))
    position = rng.randrange(len(completion))
    char = rng.choice("0123456789+-*=, ")
    if kind == "substitute":
        return completion[:position] + char + completion[position + 1 :]
    if kind == "insert":
        return completion[:position] + char + completion[position:]
    if kind == "delete":
        return completion[:position] + completion[position + 1 :]
    return completion[:position]


class TestParser:
    def test_parses_steps(self):
        assert parse_steps(CORRECT) == [(7, "*", 5, 35), (35, "-", 3, 32), (32, "-", 2, 30)]
        assert parse_steps("3-3=0") == [(3, "-", 3, 0)]
        assert parse_steps("1+2=4") == [(1, "+", 2, 4)]  # syntax only: the arithmetic is the scorer's

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "7*5",
            "7*5=",
            "7*5=35,",
            ",7*5=35",
            "7*5=35,,35-3=32",
            "7*5==35",
            "7x5=35",
            "7/5=1",
            "7 *5=35",
            "7*5=35 ",
            "+7*5=35",
            "7*-5=35",
            "-2+3=1",
            "07*5=35",
            "7*05=35",
            "7*5=035",
            "7*5=35;35-3=32",
            "7*5",
            "7*5=3.5e1",
            "1234567+1=1234568",  # more digits than any number can have
        ],
    )
    def test_rejects_malformed(self, text):
        assert parse_steps(text) is None
        assert score_completion(text, NUMBERS, TARGET) == 0.0


class TestScorer:
    @pytest.mark.parametrize(
        "completion, expected",
        [
            (CORRECT, 1.0),
            ("5*7=35,35-2=33,33-3=30", 1.0),
            ("2+3=5,5*7=35,35-5=30", 1.0),  # the 5 of a result is a new number
            (CORRECT + "<eos>", 1.0),
            (CORRECT + "<eos>9*9=81", 1.0),  # text after EOS is not part of the answer
            (CORRECT + "<pad><pad>", 1.0),
            (" " + CORRECT, 0.0),  # strict format: no whitespace is stripped
            (CORRECT + " ", 0.0),
            ("7*5=35,35-5=30,30*2=60", 0.0),  # 5 used twice (the 5 is gone after the first step)
            ("7*7=49,49-3=46,46-2=44", 0.0),  # 7 used twice in one step
            ("7*4=28,28-3=25,25+5=30", 0.0),  # 4 is not available
            ("7*5=36,36-3=33,33-3=30", 0.0),  # wrong result
            ("7*5=35,35-3=33,33-3=30", 0.0),  # wrong result (and a 3 used twice)
            ("7*5=35,3-35=32,32-2=30", 0.0),  # subtraction needs a >= b
            ("7*5=35,35-3=32,32+2=34", 0.0),  # a correct trace to another number
            ("7*5=35,35-3=32", 0.0),  # too few steps
            ("7*5=35,35-3=32,32-2=30,30*1=30", 0.0),  # too many steps (no 1 either)
            ("7*5=35,35-3=32,32-2=30,30-30=0", 0.0),
            ("<eos>", 0.0),
        ],
    )
    def test_hand_written(self, completion, expected):
        assert score_completion(completion, NUMBERS, TARGET) == expected

    def test_other_target_and_cap(self):
        assert score_completion("7*5=35,35-3=32,32+2=34", NUMBERS, 34) == 1.0
        # The same shape of trace, over and under the cap of 99 on intermediate results.
        assert MAX_RESULT == 99
        assert score_completion("10*9=90,90-1=89,89*1=89", [10, 9, 1, 1], 89) == 1.0
        assert score_completion("10*10=100,100-1=99,99*1=99", [10, 10, 1, 1], 99) == 0.0
        assert score_completion("3-3=0,0*2=0,0+7=7", [3, 3, 2, 7], 7) == 1.0  # zero is a number like any other
        assert score_completion(None, NUMBERS, TARGET) == 0.0


class TestSolver:
    def test_small_problems_by_hand(self):
        assert solve([3, 5], 8) == ["3+5=8", "5+3=8"]
        assert solve([3, 5], 2) == ["5-3=2"]  # subtraction in one order only
        assert solve([3, 3], 6) == ["3+3=6"]  # one text, so one trace, with equal numbers
        assert solve([3, 3], 0) == ["3-3=0"]
        assert solve([50, 2], 100) == []  # over the cap
        # (1+2)*3 in both operand orders of the sum; 3*3 is one text.
        assert solve([1, 2, 3], 9) == ["1+2=3,3*3=9", "2+1=3,3*3=9"]
        # Only 1+1=2 can start (1*1 or 1-1 lose too much); then 2+2, 2*2, or 3+1 / 1+3 after 1+2 / 2+1.
        assert solve([1, 1, 1, 1], 4) == [
            "1+1=2,1+1=2,2*2=4",
            "1+1=2,1+1=2,2+2=4",
            "1+1=2,1+2=3,1+3=4",
            "1+1=2,1+2=3,3+1=4",
            "1+1=2,2+1=3,1+3=4",
            "1+1=2,2+1=3,3+1=4",
        ]
        assert count_solutions([1, 1, 1, 1], 4) == 6
        assert count_solutions([1, 1, 1, 1], 17) == 0

    def test_counts_and_solutions_agree(self):
        for problem in generate_problems(100, seed=1):
            solutions = solve(problem["numbers"], problem["target"])
            assert len(solutions) == len(set(solutions)) == problem["num_solutions"]
            assert count_solutions(problem["numbers"], problem["target"]) == problem["num_solutions"]
            assert solutions == sorted(solutions)
            for solution in solutions:
                assert score_completion(solution, problem["numbers"], problem["target"]) == 1.0
                assert len(solution) <= MAX_COMPLETION_CHARS

    def test_longest_completion(self):
        longest = max(countdown_steps._longest_solution(*key) for key in countdown_steps._all_problems())
        assert longest == MAX_COMPLETION_CHARS == len("9*9=81,81+9=90,90-9=81")

    def test_needs_two_numbers(self):
        with pytest.raises(ValueError):
            count_solutions([5], 5)


class TestRandomSolution:
    def test_always_correct(self):
        rng = random.Random(0)
        for problem in sample_problems(300, seed=2):
            completion = random_solution(problem["numbers"], problem["target"], rng)
            assert score_completion(completion, problem["numbers"], problem["target"]) == 1.0

    def test_uniform_on_a_small_problem(self):
        rng = random.Random(0)
        draws = Counter(random_solution([1, 1, 1, 1], 4, rng) for _ in range(3000))
        assert set(draws) == set(solve([1, 1, 1, 1], 4))
        assert all(400 <= count <= 600 for count in draws.values()), draws
        # 60 traces whose first steps lead to 2, 4 or 6 of them: drawing each step uniformly would make some traces
        # three times as likely as others; drawing by trace counts gives each about 100 of 6000 draws.
        solutions = solve(NUMBERS, TARGET)
        draws = Counter(random_solution(NUMBERS, TARGET, rng) for _ in range(100 * len(solutions)))
        assert set(draws) == set(solutions)
        assert all(60 <= count <= 140 for count in draws.values()), draws

    def test_deterministic_and_refuses_unsolvable(self):
        assert random_solution(NUMBERS, TARGET, random.Random(3)) == random_solution(NUMBERS, TARGET, random.Random(3))
        with pytest.raises(ValueError, match="cannot reach"):
            random_solution([1, 1, 1, 1], 17, random.Random(0))


class TestViableNext:
    def test_two_viable_continuations(self):
        # After 7*5=35, the numbers 2, 3, 35 reach 30 by 35-3-2, 35-2-3 or 35-(2+3): the next step starts with 3 (of
        # 3 or 35) or 2.
        assert viable_next(NUMBERS, TARGET, "7*5=35,") == {"2", "3"}
        assert viable_next(NUMBERS, TARGET, "7*5=35,3") == {"5", "+"}
        assert viable_next(NUMBERS, TARGET, "") == {"2", "3", "5", "7"}

    def test_forced_result_digits(self):
        assert viable_next(NUMBERS, TARGET, "7*5=") == {"3"}
        assert viable_next(NUMBERS, TARGET, "7*5=3") == {"5"}
        assert viable_next(NUMBERS, TARGET, "7*5=35") == {STEP_SEPARATOR}

    def test_dead_prefixes(self):
        for prefix in ("7*5=36", "7*4", "7*7", "7/", " ", "07", "7*5=35,,", "2*3=6", "7*5=35,35+"):
            assert viable_next(NUMBERS, TARGET, prefix) == frozenset(), prefix
        # 2*3=6 is a valid step, but 30 cannot be reached from 5, 6, 7 afterwards.
        assert score_completion("2*3=6", NUMBERS, 30) == 0.0 and count_solutions([5, 6, 7], 30) == 0

    def test_eos_only_after_a_correct_trace(self):
        assert viable_next(NUMBERS, TARGET, CORRECT) == {EOS_TEXT}
        assert viable_next(NUMBERS, TARGET, CORRECT + STEP_SEPARATOR) == frozenset()
        assert viable_next(NUMBERS, TARGET, CORRECT + EOS_TEXT) == frozenset()  # already finished
        solutions = set(solve(NUMBERS, TARGET))
        prefixes = {solution[:end] for solution in solutions for end in range(len(solution) + 1)}
        for prefix in prefixes:
            assert (EOS_TEXT in viable_next(NUMBERS, TARGET, prefix)) == (prefix in solutions), prefix

    def test_viable_characters_extend_to_solutions(self):
        # A character is viable exactly when some correct completion continues the prefix with it.
        solutions = solve(NUMBERS, TARGET)
        for solution in solutions:
            for end in range(len(solution)):
                prefix = solution[:end]
                expected = {s[end] for s in solutions if s.startswith(prefix) and len(s) > end}
                expected |= {EOS_TEXT} if prefix in solutions else set()
                assert viable_next(NUMBERS, TARGET, prefix) == expected
                assert expected <= set(CHARACTERS) | {EOS_TEXT}


class TestLabelCompletion:
    def test_correct_trace(self):
        labels = label_completion(NUMBERS, TARGET, CORRECT + EOS_TEXT)
        assert len(labels) == len(CORRECT) + 1
        assert labels[:5] == [4, 3, 1, 1, 1]  # 7 of four numbers, then *, + or -; then 5 and the result forced
        assert labels[len("7*5=35,")] == 2
        assert labels[-1] == 1  # EOS is the only way to end
        assert min(labels) >= 1

    def test_matches_viable_next(self):
        rng = random.Random(1)
        for problem in generate_problems(30, seed=3):
            numbers, target = problem["numbers"], problem["target"]
            for completion in (random_solution(numbers, target, rng), _corrupt(CORRECT, rng)):
                labels = label_completion(numbers, target, completion)
                assert labels == [len(viable_next(numbers, target, completion[:t])) for t in range(len(completion))]

    def test_dead_prefix_and_eos(self):
        labels = label_completion(NUMBERS, TARGET, "7*5=36,36<eos>")
        assert labels == [4, 3, 1, 1, 1, 1, 0, 0, 0, 0]  # the 6 was chosen where only 5 was viable
        assert label_completion(NUMBERS, TARGET, "7*5=3") == [4, 3, 1, 1, 1]
        assert label_completion(NUMBERS, TARGET, "7*5=3<eos>") == [4, 3, 1, 1, 1, 1]
        # Text after the first EOS and padding are not labelled.
        assert label_completion(NUMBERS, TARGET, CORRECT + "<eos>9*9") == label_completion(
            NUMBERS, TARGET, CORRECT + EOS_TEXT
        )
        assert label_completion(NUMBERS, TARGET, "7*5<pad><pad>") == [4, 3, 1]
        assert label_completion(NUMBERS, TARGET, "") == []

    def test_position_classes(self):
        counts = torch.tensor([[-1, 0, 1, 2, 7]])
        assert position_classes(counts).tolist() == [[-1, DEAD, FORCED, DECISION, DECISION]]


class TestLabelBatch:
    def test_matches_label_completion(self, steps_tokenizer):
        rng = random.Random(0)
        width = 26
        numbers, targets, completions = [], [], []
        for problem in sample_problems(64, seed=4):
            completion = random_solution(problem["numbers"], problem["target"], rng)
            completion = _corrupt(completion, rng) if rng.random() < 0.5 else completion
            if rng.random() < 0.8:  # the rest is truncated: no EOS, padding or cut at the width
                completion += EOS_TEXT
            numbers.append(problem["numbers"])
            targets.append(problem["target"])
            completions.append(completion)
        ids = torch.tensor([_ids(steps_tokenizer, completion, width) for completion in completions])
        labels = label_batch(numbers, targets, ids, steps_tokenizer)
        assert labels.shape == ids.shape and labels.dtype == torch.long
        for row, (nums, target, completion) in enumerate(zip(numbers, targets, completions, strict=True)):
            expected = label_completion(nums, target, completion)[:width]
            assert labels[row].tolist() == expected + [-1] * (width - len(expected))
        # The batch mixes live and dead positions, decisions and padding.
        assert {-1, DEAD, FORCED} <= set(labels.unique().tolist()) and labels.max() >= DECISION

    def test_after_eos_and_padding(self, steps_tokenizer):
        eos, pad = steps_tokenizer.eos_token_id, steps_tokenizer.pad_token_id
        body = _ids(steps_tokenizer, CORRECT, len(CORRECT))
        ids = torch.tensor(
            [
                body + [eos, pad, pad],
                body + [eos, eos, body[0]],  # after the first EOS nothing is labelled, whatever the ids
                body[:5] + [pad] * (len(CORRECT) - 2),
            ]
        )
        labels = label_batch([NUMBERS] * 3, [TARGET] * 3, ids, steps_tokenizer)
        expected = label_completion(NUMBERS, TARGET, CORRECT + EOS_TEXT)
        assert labels[0].tolist() == expected + [-1, -1]
        assert labels[1].tolist() == expected + [-1, -1]
        assert labels[2].tolist() == expected[:5] + [-1] * (len(CORRECT) - 2)

    def test_special_and_unknown_ids_are_dead(self, steps_tokenizer):
        bos = steps_tokenizer.bos_token_id
        body = _ids(steps_tokenizer, "7*5", 3)
        ids = torch.tensor([body + [bos] + body, body + [len(steps_tokenizer) + 3] + body])
        labels = label_batch([NUMBERS] * 2, [TARGET] * 2, ids, steps_tokenizer)
        assert labels.tolist() == [[4, 3, 1, 1, 0, 0, 0]] * 2

    def test_table_built_once_per_tokenizer(self, steps_tokenizer, monkeypatch):
        ids = torch.tensor([_ids(steps_tokenizer, CORRECT + EOS_TEXT, 24)])
        first = label_batch([NUMBERS], [TARGET], ids, steps_tokenizer)
        decoded = []
        original = steps_tokenizer.decode
        monkeypatch.setattr(
            steps_tokenizer, "decode", lambda *args, **kwargs: decoded.append(args) or original(*args, **kwargs)
        )
        assert torch.equal(label_batch([NUMBERS], [TARGET], ids, steps_tokenizer), first)
        assert decoded == []

    @pytest.mark.parametrize("token", ["ab", "x"])
    def test_refuses_tokens_that_are_not_task_characters(self, token):
        tokenizer = AutoTokenizer.from_pretrained(TINY_POLICY_PATH)
        tokenizer.add_tokens([STEP_SEPARATOR, token])
        with pytest.raises(ValueError, match="one character of the task"):
            label_batch([NUMBERS], [TARGET], torch.zeros(1, 4, dtype=torch.long), tokenizer)

    def test_refuses_mismatched_shapes(self, steps_tokenizer):
        with pytest.raises(ValueError, match="one problem per row"):
            label_batch([NUMBERS], [TARGET, TARGET], torch.zeros(2, 4, dtype=torch.long), steps_tokenizer)
        with pytest.raises(ValueError, match=r"\(B, T\)"):
            label_batch([NUMBERS], [TARGET], torch.zeros(4, dtype=torch.long), steps_tokenizer)


class TestProblems:
    def test_problems_are_well_formed(self):
        for problem in generate_problems(200, seed=0):
            numbers, target = problem["numbers"], problem["target"]
            assert len(numbers) == NUM_NUMBERS and all(MIN_NUMBER <= n <= MAX_NUMBER for n in numbers)
            assert 1 <= target <= MAX_RESULT
            assert problem["prompt"] == format_prompt(numbers, target)
            assert problem["num_solutions"] >= 1

    def test_prompt_format(self):
        assert format_prompt(NUMBERS, TARGET) == "3 5 7 2=30:"
        assert set(format_prompt([9, 9, 9, 9], 99)) <= set(CHARACTERS)

    def test_split_of_its_own(self):
        train = generate_problems(num_problems("train"), seed=0, split="train")
        test = generate_problems(num_problems("test"), seed=1, split="test")
        train_keys, test_keys = {_key(p) for p in train}, {_key(p) for p in test}
        assert len(train) + len(test) == 20_348
        assert 0.18 < len(test) / (len(train) + len(test)) < 0.22
        # Its own split: countdown's unsalted hash would put other keys in the test split.
        assert test_keys != {key for key in train_keys | test_keys if split_of(key) == "test"}
        # Many traces per problem: the task leaves room for exploration.
        counts = [p["num_solutions"] for p in train + test]
        assert sum(c >= 2 for c in counts) / len(counts) > 0.99
        assert sum(c >= 10 for c in counts) / len(counts) > 0.6

    def test_columns_of_the_dataset(self):
        assert len(build_dataset("train", n=16, seed=0)[0]["numbers"]) == NUM_NUMBERS


# The problem API the two embedded tasks share (one `ProblemSplits` behind both), tested on each.
@pytest.mark.parametrize(
    "task, reward", [(countdown, countdown.countdown_reward), (countdown_steps, countdown_steps_reward)]
)
class TestBothTasks:
    def test_splits_are_disjoint_and_deterministic(self, task, reward):
        train = task.generate_problems(task.num_problems("train"), seed=0, split="train")
        test = task.generate_problems(task.num_problems("test"), seed=1, split="test")
        train_keys, test_keys = {_key(p) for p in train}, {_key(p) for p in test}
        assert len(train_keys) == len(train) and len(test_keys) == len(test)
        assert not train_keys & test_keys
        assert {_key(p) for p in task.sample_problems(200, seed=1, split="test")} <= test_keys
        assert task.generate_problems(50, seed=3) == task.generate_problems(50, seed=3)
        assert task.generate_problems(50, seed=3, split="test") == task.generate_problems(50, seed=3, split="test")
        assert task.generate_problems(50, seed=3) != task.generate_problems(50, seed=4)
        assert task.sample_problems(20, seed=1) == task.sample_problems(20, seed=1)

    def test_too_many_problems_raises(self, task, reward):
        with pytest.raises(ValueError):
            task.generate_problems(task.num_problems("test") + 1, seed=0, split="test")
        with pytest.raises(ValueError):
            task.generate_problems(1, seed=0, split="validation")

    def test_build_dataset(self, task, reward):
        dataset = task.build_dataset("train", n=16, seed=0)
        assert dataset.column_names == ["prompt", "numbers", "target"]
        assert len(dataset) == 16
        row = dataset[0]
        assert row["prompt"] == task.format_prompt(row["numbers"], row["target"])
        assert len(task.build_dataset("test")) == task.num_problems("test")

    def test_reward_signature_and_name(self, task, reward):
        parameters = inspect.signature(reward).parameters
        assert list(parameters)[:4] == ["prompts", "completions", "numbers", "target"]
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        assert reward.__name__ == {countdown: "countdown_reward", countdown_steps: "countdown_steps_reward"}[task]


class TestReward:
    def test_called_like_trl(self):
        rewards = countdown_steps_reward(
            prompts=["3 5 7 2=30:"] * 2 + ["1 1 1 1=4:"],
            completions=[CORRECT, "7*5=35,35-3=32", "1+1=2,1+1=2,2*2=4"],
            completion_ids=[[0], [0], [0]],
            numbers=[NUMBERS, NUMBERS, [1, 1, 1, 1]],
            target=[TARGET, TARGET, 4],
            trainer_state=None,
        )
        assert rewards == [1.0, 0.0, 1.0]
        assert all(isinstance(r, float) for r in rewards)

    def test_conversational_completions(self):
        completions = [[{"role": "assistant", "content": CORRECT}], [{"role": "assistant", "content": "7*5=35"}]]
        assert countdown_steps_reward(None, completions, [NUMBERS] * 2, [TARGET] * 2) == [1.0, 0.0]


def test_evaluate_pass_at_1_takes_the_task_scorer(tiny_model, tokenizer):
    problems = generate_problems(4, seed=0, split="test")
    always = evaluate_pass_at_1(tiny_model, tokenizer, problems, num_samples=2, max_new_tokens=4, score=lambda *a: 1.0)
    assert always["pass_at_1"] == always["greedy_accuracy"] == 1.0
    # A random 19-token model does not write a correct three-step trace (it has no "," at all).
    steps = evaluate_pass_at_1(
        tiny_model, tokenizer, problems, num_samples=2, max_new_tokens=4, score=score_completion
    )
    assert steps["pass_at_1"] == steps["greedy_accuracy"] == 0.0


def test_figures_of_the_module_docstring(capsys):
    figures = countdown_steps.main(["--traces-per-problem", "1"])
    assert '"problems": 20348' in capsys.readouterr().out
    assert (figures["train_problems"], figures["test_problems"], figures["multisets_reaching_zero"]) == (
        16173,
        4175,
        485,
    )
    traces = figures["traces_per_problem"]
    assert (traces["min"], traces["median"], traces["mean"], traces["max"]) == (1, 16, 22.45, 220)
    assert (traces["share_at_least_2"], round(traces["share_at_least_10"], 3)) == (0.996, 0.636)
    assert figures["longest_completion_chars"] == MAX_COMPLETION_CHARS
    lengths = figures["sampled_completion_chars"]
    assert (lengths["min"], lengths["median"], lengths["max"]) == (17, 20, 22)
    positions = figures["sampled_positions"]
    assert 0.15 < positions["decision_share"] < 0.18 and positions["dead_share"] == 0.0
    for text in ("20,348 problems", "485 of the 495", "median 16, mean 22.45, max 220", "16.2% are decisions"):
        assert text in countdown_steps.__doc__


def test_lazy_exports():
    import trl_entropy.tasks as tasks

    for name in ("viable_next", "label_batch", "label_completion", "countdown_steps_reward", "random_solution"):
        assert getattr(tasks, name) is getattr(countdown_steps, name)
    assert tasks.solve is countdown.solve  # countdown keeps its names

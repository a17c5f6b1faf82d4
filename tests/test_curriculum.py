# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`SemanticEntropyCurriculum`: the order it defines, and that TRL's trainers receive the prompts in that order."""

import math

import pytest
from conftest import cpu_grpo_kwargs
from datasets import Dataset, load_from_disk
from trl import GRPOConfig, GRPOTrainer

from trl_entropy import EntropyAdvantageGRPOTrainer, EntropyGRPOTrainer, SemanticEntropyCurriculum, SENTGRPOTrainer
from trl_entropy.sent.curriculum import curriculum_order
from trl_entropy.tasks import build_dataset, countdown_reward, load_tiny_policy


NAN = float("nan")


def test_ascending_order_ties_in_dataset_order_and_nan_last():
    indices, stages = curriculum_order([0.5, 0.0, NAN, 1.2, 0.0, 0.3], "ascending", num_stages=2)
    assert indices == [1, 4, 5, 0, 3, 2]
    assert stages == [1, 1, 1, 2, 2, 2]


def test_stages_shuffle_inside_a_stage_only():
    scores = [float(i % 10) for i in range(100)]  # ten rows per score value
    indices, stages = curriculum_order(scores, "stages", num_stages=4, seed=3)
    ascending, _ = curriculum_order(scores, "ascending", num_stages=4)
    assert sorted(indices) == list(range(100))
    assert stages == [s for s in (1, 2, 3, 4) for _ in range(25)]
    for stage in range(4):
        block = slice(25 * stage, 25 * (stage + 1))
        assert sorted(indices[block]) == sorted(ascending[block])  # same members as the ascending stage
    assert indices != ascending  # and shuffled inside it
    assert curriculum_order(scores, "stages", num_stages=4, seed=3)[0] == indices  # seeded
    assert curriculum_order(scores, "stages", num_stages=4, seed=4)[0] != indices


def test_uneven_stage_sizes():
    _, stages = curriculum_order([0.1 * i for i in range(7)], "ascending", num_stages=3)
    assert stages == [1, 1, 1, 2, 2, 3, 3]


def test_wrapper_columns_stage_selection_and_save(tmp_path):
    dataset = Dataset.from_dict({"prompt": list("abcdef"), "x": [1, 2, 3, 4, 5, 6]})
    scores = [0.5, 0.0, NAN, 1.2, 0.0, 0.3]
    curriculum = SemanticEntropyCurriculum(dataset, scores)
    assert isinstance(curriculum, Dataset)
    assert curriculum["prompt"][:] == ["b", "e", "f", "a", "d", "c"]
    assert curriculum["x"][:] == [2, 5, 6, 1, 4, 3]
    assert curriculum["curriculum_source_index"][:] == [1, 4, 5, 0, 3, 2]
    assert curriculum["curriculum_stage"][:] == [1, 1, 1, 2, 2, 2]
    assert curriculum["semantic_entropy"][:5] == [0.0, 0.0, 0.3, 0.5, 1.2] and math.isnan(
        curriculum["semantic_entropy"][5]
    )

    stage_two = SemanticEntropyCurriculum(dataset, scores, stage=2)
    assert stage_two["prompt"][:] == ["a", "d", "c"]

    # Saved and reloaded: the rows are on disk in curriculum order, and re-wrapping keeps the first source indices.
    curriculum.save_to_disk(str(tmp_path / "curriculum"))
    reloaded = load_from_disk(str(tmp_path / "curriculum"))
    assert reloaded["prompt"][:] == curriculum["prompt"][:]
    rewrapped = SemanticEntropyCurriculum(reloaded, stage=1)
    assert rewrapped["prompt"][:] == ["b", "e", "f"]
    assert rewrapped["curriculum_source_index"][:] == [1, 4, 5]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"scores": [0.1, 0.2]}, ValueError, "`scores` has 2 values for a dataset of 3 rows"),
        ({"scores": [0.1, -0.2, 0.0]}, ValueError, "must be semantic entropies"),
        ({"scores": None}, ValueError, "has no `semantic_entropy` column"),
        ({"scores": [0.1, 0.2, 0.3], "order": "descending"}, ValueError, "`order` must be one of"),
        ({"scores": [0.1, 0.2, 0.3], "num_stages": 0}, ValueError, "`num_stages` must be an integer >= 1, got 0"),
        ({"scores": [0.1, 0.2, 0.3], "stage": 3}, ValueError, r"`stage` must be in \[1, 2\], got 3"),
    ],
)
def test_wrapper_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        SemanticEntropyCurriculum(Dataset.from_dict({"prompt": ["a", "b", "c"]}), **kwargs)


def test_wrapper_needs_a_map_style_dataset():
    iterable = Dataset.from_dict({"prompt": ["a"]}).to_iterable_dataset()
    with pytest.raises(TypeError, match="map-style"):
        SemanticEntropyCurriculum(iterable, [0.0])


# ---------------------------------------------------------------------------------------------------------------------
# Through TRL's sampler
# ---------------------------------------------------------------------------------------------------------------------


def recording_reward(seen):
    def reward(prompts, completions, **kwargs):
        seen.extend(prompts)
        return countdown_reward(prompts, completions, **kwargs)

    reward.__name__ = "countdown_reward"
    return reward


def prompts_received(trainer_class, curriculum, tokenizer, output_dir, args_class=GRPOConfig, **overrides):
    """The distinct prompts, in the order the trainer's reward function received them during a short training."""
    seen = []
    kwargs = cpu_grpo_kwargs(output_dir, per_device_train_batch_size=8, num_generations=4, max_steps=6)
    kwargs.update(overrides)
    trainer = trainer_class(
        model=load_tiny_policy()[0],
        reward_funcs=recording_reward(seen),
        args=args_class(**kwargs),
        train_dataset=curriculum,
        processing_class=tokenizer,
    )
    trainer.train()
    return list(dict.fromkeys(seen)), seen


@pytest.fixture(scope="module")
def curriculum():
    dataset = build_dataset(split="train", n=40, seed=5)
    # Scores that put the prompts in an order unrelated to the dataset's (a fixed permutation).
    scores = [((i * 17) % 40) / 10 for i in range(40)]
    return SemanticEntropyCurriculum(dataset, scores, order="stages", num_stages=4, seed=0)


@pytest.mark.parametrize("trainer_class", [GRPOTrainer, EntropyAdvantageGRPOTrainer])
def test_trainers_receive_the_prompts_in_curriculum_order(trainer_class, curriculum, tokenizer, tmp_path):
    # 6 optimizer steps of 2 prompts x 4 completions, each generation batch used for 2 steps (4 prompts).
    distinct, seen = prompts_received(
        trainer_class, curriculum, tokenizer, tmp_path, shuffle_dataset=False, steps_per_generation=2
    )
    assert distinct == curriculum["prompt"][:12]
    assert len(seen) == 12 * 4  # each prompt once per generation, with its 4 completions
    # 10 prompts per stage: the first ten received are stage 1, all of lower entropy than the two of stage 2.
    score = dict(zip(curriculum["prompt"][:], curriculum["semantic_entropy"][:], strict=True))
    assert max(score[p] for p in distinct[:10]) < min(score[p] for p in distinct[10:])


def test_order_survives_reused_generation_batches(curriculum, tokenizer, tmp_path):
    # num_iterations 2: each generation batch is trained on twice; the sampler repeats it but keeps the order.
    distinct, _ = prompts_received(
        SENTGRPOTrainer, curriculum, tokenizer, tmp_path, shuffle_dataset=False, num_iterations=2
    )
    assert distinct == curriculum["prompt"][:6]


def test_plain_trl_shuffle_would_undo_the_order(curriculum, tokenizer, tmp_path):
    # The reason for the refusal below: TRL's default `shuffle_dataset=True` draws a random permutation.
    distinct, _ = prompts_received(GRPOTrainer, curriculum, tokenizer, tmp_path, shuffle_dataset=True)
    assert distinct != curriculum["prompt"][: len(distinct)]
    with pytest.raises(ValueError, match="shuffle_dataset=True"):
        SemanticEntropyCurriculum.check_training_args(GRPOConfig(**cpu_grpo_kwargs(tmp_path)))


@pytest.mark.parametrize("trainer_class", [EntropyGRPOTrainer, EntropyAdvantageGRPOTrainer, SENTGRPOTrainer])
def test_trl_entropy_trainers_refuse_a_reshuffled_curriculum(trainer_class, curriculum, tokenizer, tmp_path):
    args = GRPOConfig(**cpu_grpo_kwargs(tmp_path, num_iterations=2, shuffle_dataset=True))
    with pytest.raises(ValueError, match="would make TRL's sampler draw the prompts in a random order"):
        trainer_class(
            model=load_tiny_policy()[0],
            reward_funcs=countdown_reward,
            args=args,
            train_dataset=curriculum,
            processing_class=tokenizer,
        )

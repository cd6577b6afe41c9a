"""Seed 000's verl contract (RM-Gallery, "Generative Training (Pairwise)"): the label lives in
``extra_info["metadata"]`` (a dict or a JSON string), a missing strength weighs 0.3, and every problem with a
label is reported in the same keys, never as a silent 0."""

from __future__ import annotations

import json

import pytest

from rm_gallery.training import compat
from rm_gallery.training.verl_rewards import SCORE_KEYS, compute_score, read_label

#: One row as the seed's dataset hands it to verl: ``extra_info`` is a copy of the whole record.
RECORD = {"input": [{"role": "user", "content": "What are the benefits of exercise?"}],
          "output": [{"content": "Regular exercise improves cardiovascular health ..."},
                     {"content": "Exercise is good for you."}],
          "metadata": {"preferred": "A", "preference_strength": 2}}
SAYS_A, SAYS_B = "<analysis>A covers more.</analysis><preference>A</preference>", "<preference>B</preference>"


@pytest.mark.parametrize("metadata", [RECORD["metadata"], json.dumps(RECORD["metadata"])])
@pytest.mark.parametrize("reward", [compute_score, compat.compute_score])
def test_the_label_is_read_from_extra_info_metadata(reward, metadata):
    info = {**RECORD, "metadata": metadata}
    right, wrong = reward("helpsteer2", SAYS_A, None, info), reward("helpsteer2", SAYS_B, None, info)
    assert (right["score"], wrong["score"]) == (1.0, 0.0)
    assert right["error"] == wrong["error"] == ""
    truth = right.get("preferred", right.get("true_preference"))
    strength = right.get("strength", right.get("preference_strength"))
    assert (truth, strength) == ("A", 2)


def test_ground_truth_and_metadata_together_and_apart():
    assert read_label("A", {"metadata": RECORD["metadata"]}) == read_label(None, RECORD)
    assert read_label("b", None).preferred == "B"
    assert read_label('{"preferred": "tie", "preference_strength": 0}').strength == 0
    assert read_label("A", {"preference_strength": 1.0}).strength == 1      # our verl_rows keep it here


@pytest.mark.parametrize(("ground_truth", "extra_info", "error"), [
    (None, None, "missing_label"),
    ("", {"metadata": {"preference_strength": 2}}, "missing_label"),
    (None, {"metadata": "{}"}, "missing_label"),
    (None, {"metadata": "{not json"}, "invalid_metadata"),
    (None, {"metadata": ["A"]}, "invalid_metadata"),
    ("C", None, "invalid_label"),
    (None, {"metadata": {"preferred": 1}}, "invalid_label"),
    ("A", {"metadata": {"preferred": "B"}}, "label_conflict"),
    ("A", {"metadata": {"preferred": "A", "preference_strength": 3}}, "invalid_strength"),
    ("A", {"metadata": {"preferred": "A", "preference_strength": "strong"}}, "invalid_strength"),
    ("A", {"preference_strength": 1.5}, "invalid_strength"),
    ("A", {"metadata": {"preference_strength": 2}, "preference_strength": 1}, "label_conflict"),
])
def test_label_problems_are_errors_in_the_same_keys(ground_truth, extra_info, error):
    label = read_label(ground_truth, extra_info)
    assert label.preferred is None and label.error.startswith(error + ":")
    out = compute_score("d", SAYS_A, ground_truth, extra_info)
    assert tuple(out) == SCORE_KEYS
    assert out["error"] == label.error and out["acc"] is None and out["preferred"] == "invalid"
    assert out["score"] == 0.0 and compute_score("d", SAYS_A, ground_truth, extra_info, weighted=True)["score"] == 0.0
    seed = compat.compute_score("d", SAYS_A, ground_truth, extra_info)
    assert tuple(seed) == compat.COMPAT_KEYS and seed["true_preference"] == "unknown" and seed["error"] == label.error


def test_a_missing_strength_weighs_the_seeds_03():
    info = {"metadata": {"preferred": "A"}}
    assert compute_score("d", SAYS_A, None, info, weighted=True)["score"] == pytest.approx(0.3)
    assert compute_score("d", SAYS_A, None, info)["score"] == 1.0            # unweighted: the seed's binary reward
    for strength, weight in ((2, 1.0), (1, 0.7), (0, 0.3)):
        info = {"metadata": json.dumps({"preferred": "A", "preference_strength": strength})}
        assert compat.compute_score("d", SAYS_A, "A", info, weighted=True)["score"] == pytest.approx(weight)


def test_every_path_has_the_same_keys_for_verl():
    cases = [(SAYS_A, None, RECORD), ("garbage", "B", None), (SAYS_A, None, None), (SAYS_B, "A", {"metadata": "{"})]
    assert {tuple(compute_score("d", s, g, i)) for s, g, i in cases} == {SCORE_KEYS}
    assert {tuple(compat.compute_score("d", s, g, i)) for s, g, i in cases} == {compat.COMPAT_KEYS}

"""RMB: loading both schemas, the official scoring on hand-made cases, runs through the runner and the CLI, and
parity with the official script over a local copy of ``RMB_dataset/`` (skipped when there is none)."""

import json
import math
from collections import Counter

import pytest

from rm_gallery.benchmarks import get_benchmark, load_rows, run_benchmark
from rm_gallery.benchmarks.base import Unit, default_sources
from rm_gallery.benchmarks.rmb import CATEGORIES, SCENARIOS, rmb_scores, section_of
from rm_gallery.benchmarks.schemas import rmb_category
from rm_gallery.cli import main
from rm_gallery.graders.function import FunctionGrader
from rm_gallery.loaders import DataError
from rm_gallery.testing.stub_server import StubServer
from rm_gallery.types import GraderError, Rank, Verdict

from .conftest import RMB_DIR, OraclePairwise, OracleScores, Unreadable, rmb_records, write_jsonl, write_rmb_dir

RMB = get_benchmark("rmb")
ALWAYS_A = FunctionGrader(lambda s: "A", name="always_a")


# -- rows -----------------------------------------------------------------------------------------------

def test_official_directory_loads_recursively_with_sets_goals_and_turns(tmp_path):
    rows = load_rows(RMB, [write_rmb_dir(tmp_path)])
    assert Counter((r.set, r.goal) for r in rows) == {("pairwise", "Helpfulness"): 6, ("pairwise", "Harmlessness"): 3,
                                                     ("bon", "Helpfulness"): 4, ("bon", "Harmlessness"): 2}
    multi = next(r for r in rows if r.id == "Chat/Discussion-1" and r.set == "pairwise")
    assert [m.role for m in multi.messages] == ["user", "assistant", "user"]
    blank = next(r for r in rows if r.id == "Chat/Discussion-2" and r.set == "pairwise")
    assert blank.rejected == ("\n\n \n \n",)  # kept: the official data holds whitespace-only answers
    bon = next(r for r in rows if r.set == "bon" and r.id == "S1-1")
    assert bon.chosen == "GOOD best 1" and len(bon.rejected) == 3 and bon.category == "BoN_set/Harmlessness/S1"


def test_flattened_hub_rows_and_category_from_the_file_path(tmp_path):
    flat = [{"pair_uid": "9", "conversation": [{"role": "user", "content": "q"}], "chosen": "a", "rejected": "b",
             "category_path": "Pairwise_set/Harmlessness/S3"},
            {"bon_uid": "4", "conversation": [{"role": "user", "content": "q"}], "chosen": "a",
             "rejected": ["b", "c"], "category_path": "BoN_set/Helpfulness/Code/Documentation"}]
    rows = load_rows(RMB, [write_jsonl(tmp_path / "flat.jsonl", flat)])
    assert [(r.set, r.id, r.chosen, r.rejected) for r in rows] == [("pairwise", "9", "a", ("b",)),
                                                                   ("bon", "4", "a", ("b", "c"))]
    no_path = {k: v for k, v in rmb_records()[0].items() if k != "category_path"}
    assert rmb_category("x/RMB_dataset/Pairwise_set/Helpfulness/Chat/Discussion.json", no_path) == \
        "Pairwise_set/Helpfulness/Chat/Discussion"
    target = tmp_path / "copy" / "BoN_set" / "Harmlessness" / "S2.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps([{k: v for k, v in rmb_records()[-1].items() if k != "category_path"}]))
    (row,) = load_rows(RMB, [tmp_path / "copy"])
    assert (row.set, row.goal, row.category) == ("bon", "Harmlessness", "BoN_set/Harmlessness/S2")


GOOD_PAIR = rmb_records()[0]
GOOD_BON = rmb_records()[3]


@pytest.mark.parametrize("record, field, message", [
    ({k: v for k, v in GOOD_PAIR.items() if k != "conversation_input"}, "conversation_input", "missing"),
    ({k: v for k, v in GOOD_PAIR.items() if k != "reject"}, "rejected", "missing"),
    ({**GOOD_PAIR, "chosen": {"llm_name": "m"}}, "chosen.answer", "missing"),
    ({**GOOD_PAIR, "chosen": 3}, "chosen", "expected a string or an {llm_name, answer} object"),
    ({**GOOD_PAIR, "category_path": "Pairwise_set/Kindness/Chat"}, "category_path", "Helpfulness|Harmlessness"),
    ({**GOOD_PAIR, "category_path": ["x"]}, "category_path", "expected a string, got list"),
    ({**GOOD_PAIR, "conversation_input": [{"role": "judge", "content": "x"}]}, "conversation_input[0].role",
     "expected one of system, user, assistant"),
    ({**GOOD_PAIR, "conversation_input": []}, "conversation_input", "non-empty list"),
    ({**GOOD_BON, "loser_list": []}, "loser_list", "non-empty list"),
    ({**GOOD_BON, "loser_list": [{"answer": "x"}, {"llm_name": "m", "answer": None}]}, "loser_list[1].answer",
     "missing"),
])
def test_malformed_rmb_row_is_one_line_naming_file_row_and_field(tmp_path, record, field, message):
    path = write_jsonl(tmp_path / "rmb.jsonl", [GOOD_PAIR, record])
    with pytest.raises(DataError) as info:
        load_rows(RMB, [path])
    err = info.value
    assert (err.path, err.row, err.field) == (str(path), 2, field)
    assert str(err).startswith(f"{path}, row 2: field '{field}': ") and message in str(err) and "\n" not in str(err)


# -- scoring --------------------------------------------------------------------------------------------

def test_sections_pool_their_items_and_the_headline_is_the_mean_of_the_four():
    strata = {"Pairwise_set/Helpfulness/Chat/Discussion": [1.0, 1.0, 1.0, 0.0],    # 3 / 4
              "Pairwise_set/Helpfulness/Code/Documentation": [0.0, 0.0],          # 0 / 2
              "Pairwise_set/Harmlessness/S1": [1.0],
              "BoN_set/Helpfulness/Chat/Discussion": [0.0, 1.0],
              "BoN_set/Harmlessness/S1": [0.25, 0.75, 0.5]}
    s = rmb_scores(strata)
    assert s["subset/Pairwise_set/Helpfulness/Chat/Discussion"] == 0.75
    assert s["section/Pairwise Helpfulness"] == 3 / 6  # pooled over pairs, not the mean of 0.75 and 0
    assert s["section/Pairwise Harmlessness"] == 1.0 and s["section/BoN Helpfulness"] == 0.5
    assert s["section/BoN Harmlessness"] == pytest.approx(0.5)
    assert s["headline"] == pytest.approx((0.5 + 1.0 + 0.5 + 0.5) / 4)
    assert rmb_scores({"Pairwise_set/Harmlessness/S1": [1.0, 0.0]})["headline"] == 0.5  # one section present


def test_categories_and_sections():
    assert len(SCENARIOS) == 49 and len(CATEGORIES) == 98
    assert section_of("BoN_set/Helpfulness/Open QA/Factual") == "BoN Helpfulness"
    assert section_of("Pairwise_set/Harmlessness/multi") == "Pairwise Harmlessness"
    assert section_of("Other/Harmlessness/x") is None
    layout = RMB.layout({"Pairwise_set/Harmlessness/S1": [1.0], "Pairwise_set/Harmlessness/S99": [0.0]})
    assert layout.headline_partial and len(layout.missing) == 97
    assert layout.sections["Pairwise Harmlessness"]["n"] == 2 and layout.sections["BoN Helpfulness"]["n"] == 0
    assert not layout.sections["BoN Helpfulness"]["scored"]
    assert any("S99" in note for note in layout.notes)


def scored(*scores):
    return Rank(order=tuple(range(len(scores))), scores=scores)


def verdicts(ab, ba):
    return Verdict(winner=ab or "tie", metadata={"orders": {"ab": {"winner": ab}, "ba": {"winner": ba}}})


@pytest.mark.parametrize("scores, want", [
    ((3.0, 1.0, 2.0), 1.0),           # beats every loser
    ((3.0, 1.0, 3.0), 0.0),           # ties a loser: the official chosen > rejected is strict
    ((2.0, 1.0, 3.0), 0.0),
    ((5.0, 4.9), 1.0),
])
def test_pointwise_bon_needs_the_best_above_every_loser(scores, want):
    unit = RMB.units(load_rows_from(rmb_records()[3:4]), "pointwise", seed=0)[0]
    unit = Unit(unit.stratum, unit.samples)
    assert RMB.outcome(unit, [scored(*scores)], "pointwise", "zero") == want


def test_pointwise_unscored_answer_earns_the_error_credit():
    unit = RMB.units(load_rows_from(rmb_records()[3:4]), "pointwise", seed=0)[0]  # best + 2 losers
    failed = GraderError(kind="parse_error", message="x", metadata={"scores": [1.0, None, 0.0]})
    assert RMB.outcome(unit, [failed], "pointwise", "zero") == 0.0
    assert RMB.outcome(unit, [failed], "pointwise", "chance") == pytest.approx(1 / 3)


def test_pairwise_bon_is_the_product_of_pair_credits():
    unit = RMB.units(load_rows_from(rmb_records()[4:5]), "pairwise", seed=0)[0]  # best + 3 losers: 3 pairs
    assert len(unit.samples) == 3 and all(s.label.preferred == "A" for s in unit.samples)
    won = verdicts("A", "A")
    assert RMB.outcome(unit, [won, won, won], "pairwise", "zero") == 1.0
    assert RMB.outcome(unit, [won, verdicts("B", "B"), won], "pairwise", "zero") == 0.0
    split = verdicts("A", "B")  # right in one order only: credit 0.5 for that pair
    assert RMB.outcome(unit, [won, split, split], "pairwise", "zero") == 0.25
    unread = verdicts(None, None)
    assert RMB.outcome(unit, [won, won, unread], "pairwise", "chance") == 0.5


def load_rows_from(records):
    return [RMB.parse("mem", i, r) for i, r in enumerate(records, 1)]


# -- through the runner ---------------------------------------------------------------------------------

async def rmb_run(tmp_path, grader, **kw):
    rows = load_rows(RMB, [write_rmb_dir(tmp_path)])
    kw.setdefault("n_boot", 50)
    return await run_benchmark(RMB, rows, grader, out_dir=tmp_path / "out", plots=False, **kw)


def values(summary):
    out = {"headline": summary["headline"]["value"]}
    for group in ("sections", "subsets"):
        out |= {f"{group}/{k}": v["value"] for k, v in summary[group].items() if v["value"] is not None}
    return out


@pytest.mark.parametrize("grader, judgments", [(OraclePairwise(), 2 * (9 + 15)),       # 24 pairs, both orders
                                               (OracleScores(), 2 * 9 + 3 * 3 + 3 * 4)])  # every answer once
async def test_a_perfect_judge_scores_one_everywhere(tmp_path, grader, judgments):
    summary = await rmb_run(tmp_path, grader)
    assert set(values(summary).values()) == {1.0} and summary["units"] == 15
    assert summary["errors"]["judgments"] == judgments and summary["headline"]["partial"]  # 92 scenarios absent
    assert set(summary["sections"]) == {"Pairwise Helpfulness", "Pairwise Harmlessness", "BoN Helpfulness",
                                        "BoN Harmlessness"}
    assert summary["sections"]["BoN Helpfulness"]["n"] == 4 and len(summary["missing"]) == 98 - 6


async def test_always_a_wins_one_order_of_every_pair(tmp_path):
    summary = await rmb_run(tmp_path, ALWAYS_A)
    s = summary["sections"]
    assert s["Pairwise Helpfulness"]["value"] == s["Pairwise Harmlessness"]["value"] == 0.5
    # BoN: product over pairs of 0.5; Helpfulness holds items with 2, 3, 2, 3 losers
    assert s["BoN Helpfulness"]["value"] == pytest.approx((0.25 + 0.125) / 2)
    assert summary["headline"]["value"] == pytest.approx((0.5 + 0.5 + 0.1875 + 0.1875) / 4, abs=1e-6)
    assert summary["position"]["consistency"] == 0.0


async def test_unreadable_verdicts_score_the_error_convention(tmp_path):
    zero = await rmb_run(tmp_path / "z", Unreadable(), error_credit="zero")
    assert set(values(zero).values()) == {0.0} and zero["errors"]["parse_failure_rate"] == 1.0
    chance = await rmb_run(tmp_path / "c", Unreadable(), error_credit="chance")
    assert chance["sections"]["Pairwise Harmlessness"]["value"] == 0.5
    assert chance["sections"]["BoN Harmlessness"]["value"] == pytest.approx((0.25 + 0.125) / 2)


# -- the CLI --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    with StubServer() as srv:  # always answers <preference>A</preference>
        yield srv


def test_bench_rmb_cli_report_and_resume(tmp_path, server, capsys):
    data = write_rmb_dir(tmp_path)
    out = tmp_path / "rmb"
    args = ["bench", "rmb", "--grader", "pairwise", "--data", str(data), "--out", str(out), "--model", "stub-judge",
            "--base-url", server.base_url, "--no-cache", "--no-progress", "--bootstrap", "100"]
    before = server.counts["requests"]
    assert main(args) == 0
    assert server.counts["requests"] - before == 2 * (9 + 15)
    assert "RMB headline: 34.4" in capsys.readouterr().out  # (0.5 + 0.5 + 0.1875 + 0.1875) / 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["benchmark"] == "rmb" and summary["sections"]["BoN Harmlessness"]["ci"] is not None
    report = (out / "report.md").read_text()
    assert "| Pairwise Helpfulness | 50.0 |" in report and "BoN_set/Harmlessness/S1" in report
    assert {"samples.jsonl", "summary.json", "report.md", "sections.png", "run.json"} <= set(summary["files"])
    lines = (out / "samples.jsonl").read_text().splitlines()
    (out / "samples.jsonl").write_text("\n".join(lines[:10]) + "\n")
    before = server.counts["requests"]
    assert main([*args, "--resume", "--no-plots"]) == 0
    assert server.counts["requests"] - before == 2 * (24 - 10)
    assert json.loads((out / "summary.json").read_text())["headline"] == summary["headline"]


def test_default_sources_are_both_hub_copies():
    assert default_sources(RMB) == ["ilgee/RMB-Pairwise", "ilgee/RMB-BoN"]
    assert default_sources(get_benchmark("judgebench")) == ["ScalerLab/JudgeBench"]


def test_an_rmb_file_given_to_grade_says_what_is_missing(tmp_path, capsys):
    data = write_jsonl(tmp_path / "rmb.jsonl", rmb_records()[:2])
    assert main(["grade", str(data), "--grader", "pairwise", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                 "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {data}, row 1: field 'prompt': missing (accepted record shapes: ")
    assert "rm-gallery bench rmb" in err and "\n" not in err


# -- parity with the official script over a local copy (plain skip: CI has no copy) ------------------------

@pytest.fixture(scope="module")
def rmb_dir():
    if not RMB_DIR.is_dir():
        pytest.skip(f"no local RMB_dataset at {RMB_DIR} (set RM_GALLERY_RMB_DATA)")
    return RMB_DIR


def fake_score(text: str) -> int:
    """A deterministic stand-in reward model with many equal scores (so strictness matters)."""
    return len(text) % 13


def test_local_copy_matches_the_official_script(rmb_dir):
    """Per file, ``my_run_rm.py`` scores ``1 if chosen > rejected else 0`` and prints sum / len; a folder pools
    its files' pairs; BoN counts when the best beats every loser. Restated here over the raw JSON files and
    compared with our scorer fed the same fake reward model."""
    official: dict[str, list[int]] = {}
    for path in sorted(rmb_dir.rglob("*.json")):
        for rec in json.loads(path.read_text(encoding="utf-8")):
            if "pair_uid" in rec:
                results = [int(fake_score(rec["chosen"]["answer"]) > fake_score(rec["reject"]["answer"]))]
            else:
                best = fake_score(rec["bon_best"]["answer"])
                results = [int(best > fake_score(loser["answer"])) for loser in rec["loser_list"]]
            official.setdefault(rec["category_path"], []).append(int(all(results)))
    rows = load_rows(RMB, [rmb_dir])
    assert len(rows) == sum(map(len, official.values()))
    strata: dict[str, list[float]] = {}
    for unit in RMB.units(rows, "pointwise", seed=0):
        result = scored(*(float(fake_score(r.content)) for r in unit.samples[0].responses))
        strata.setdefault(unit.stratum, []).append(RMB.outcome(unit, [result], "pointwise", "zero"))
    ours = RMB.statistic(strata)
    for category, results in official.items():
        assert ours[f"subset/{category}"] == sum(results) / len(results)
    for section in ("Pairwise Helpfulness", "Pairwise Harmlessness", "BoN Helpfulness", "BoN Harmlessness"):
        pooled = [x for c, v in official.items() if section_of(c) == section for x in v]
        assert ours[f"section/{section}"] == pytest.approx(sum(pooled) / len(pooled), abs=1e-15)
    sections = [ours[f"section/{s}"] for s in ("Pairwise Helpfulness", "Pairwise Harmlessness", "BoN Helpfulness",
                                                "BoN Harmlessness")]
    assert ours["headline"] == pytest.approx(math.fsum(sections) / 4, abs=1e-15)
    bon = Counter(r.goal for r in rows if r.set == "bon")
    assert bon == {"Helpfulness": 2109, "Harmlessness": 1677}  # the official BoN set: 3,786 items

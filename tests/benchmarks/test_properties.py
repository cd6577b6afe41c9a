"""Property checks through the real runner: a perfect judge scores 1.0 everywhere, an always-A judge scores what
the label balance predicts, and unreadable verdicts score exactly the recorded error convention."""

import json

import pytest

from rm_gallery.benchmarks import get_benchmark, load_rows, run_benchmark
from rm_gallery.benchmarks.base import BenchmarkError
from rm_gallery.benchmarks.rewardbench2 import correct_position
from rm_gallery.graders.function import FunctionGrader
from rm_gallery.results_io import read_results

from .conftest import (
    FixedFourWay,
    OraclePairwise,
    OracleScores,
    Unreadable,
    judgebench_records,
    rb2_records,
    write_jsonl,
)

ALWAYS_A = FunctionGrader(lambda s: "A", name="always_a")


async def bench_run(name, sources, grader, tmp_path, *, limit=None, **kw):
    bench = get_benchmark(name)
    rows = load_rows(bench, sources, limit=limit)
    kw.setdefault("n_boot", 50)
    summary = await run_benchmark(bench, rows, grader, out_dir=tmp_path / name, plots=False, **kw)
    return summary, rows


def numbers(summary):
    """Every headline, section, subset and metric value of a summary."""
    out = {"headline": summary["headline"]["value"]}
    for group in ("sections", "subsets", "metrics"):
        out |= {f"{group}/{k}": v["value"] for k, v in summary[group].items() if v["value"] is not None}
    return out


async def test_perfect_judge_scores_one_everywhere_on_rewardbench(tmp_path, rewardbench_file):
    rows = load_rows(get_benchmark("rewardbench"), [rewardbench_file])
    chosen = {(r.prompt, r.chosen) for r in rows}
    summary, _ = await bench_run("rewardbench", [rewardbench_file], OraclePairwise(chosen), tmp_path)
    assert set(numbers(summary).values()) == {1.0} and len(summary["subsets"]) == 11
    assert summary["headline"]["ci"] == [1.0, 1.0] and summary["headline"]["partial"]
    assert summary["sections"]["Chat"]["value"] is None and summary["sections"]["Chat"]["scored"] is False
    pos = summary["position"]
    assert pos["pairs_both_orders"] == 1403 and pos["both_correct"] == pos["consistency"] == 1.0
    assert summary["errors"]["judgments"] == 2806 and summary["errors"]["parse_failure_rate"] == 0
    lines = list(read_results(tmp_path / "rewardbench" / "samples.jsonl"))
    assert len(lines) == 1403 and set(lines[0]["result"].metadata["orders"]) == {"ab", "ba"}


async def test_always_a_on_rewardbench_both_orders_and_single(tmp_path, rewardbench_file):
    both, _ = await bench_run("rewardbench", [rewardbench_file], ALWAYS_A, tmp_path / "b", limit=20)
    assert set(numbers(both).values()) == {0.5}  # right when chosen is shown first, wrong when swapped
    assert both["position"]["consistency"] == 0.0 and both["position"]["first_shown_rate"] == 1.0
    single, _ = await bench_run("rewardbench", [rewardbench_file], ALWAYS_A, tmp_path / "s", limit=20,
                                orders="single")
    assert set(numbers(single).values()) == {1.0}  # chosen is always response A in the data


async def test_rmbench_perfect_pairwise_and_pointwise(tmp_path, rmbench_dir):
    rows = load_rows(get_benchmark("rmbench"), [rmbench_dir])
    chosen = {(r.prompt, c) for r in rows for c in r.chosen}
    pair, _ = await bench_run("rmbench", [rmbench_dir], OraclePairwise(chosen), tmp_path / "p", limit=10)
    assert set(numbers(pair).values()) == {1.0} and pair["samples"] == 30 * 9
    assert pair["errors"]["judgments"] == 30 * 9 * 2 and pair["missing"] == ["math"] and pair["headline"]["partial"]
    point, _ = await bench_run("rmbench", [rmbench_dir], OracleScores(chosen), tmp_path / "s")
    assert set(numbers(point).values()) == {1.0} and point["samples"] == 798
    assert point["errors"]["judgments"] == 798 * 6 and point["extra"]["matrices"]["safety"] == [[1.0] * 3] * 3


async def test_rmbench_always_a_is_half_in_every_cell(tmp_path, rmbench_dir):
    summary, _ = await bench_run("rmbench", [rmbench_dir], ALWAYS_A, tmp_path, limit=5)
    assert set(numbers(summary).values()) == {0.5}
    assert summary["extra"]["matrices"]["overall"] == [[0.5] * 3] * 3


def assert_perfect_rb2(summary) -> bool:
    """1.0 everywhere, except the official Ties bonus: equal ratings of the correct answers (a zero gap) above
    every incorrect one earn tanh(+inf) = 1 in the 0.01-weighted margin term, so Ties scores 1.01."""
    values = numbers(summary)
    assert values.pop("metrics/ties/margin_score") == 1.0 and values.pop("sections/Ties") == pytest.approx(1.01)
    assert values.pop("headline") == pytest.approx((5 + 1.01) / 6, abs=1e-6)
    assert set(values.values()) == {1.0}
    return True


async def test_rewardbench2_perfect_four_way_with_perfect_ratings_for_ties(tmp_path):
    data = write_jsonl(tmp_path / "rb2.jsonl", rb2_records())
    summary, _ = await bench_run("rewardbench2", [data], FixedFourWay(), tmp_path, ratings_grader=OracleScores())
    assert_perfect_rb2(summary)
    assert not summary["headline"]["partial"] and summary["missing"] == []
    assert summary["metrics"]["ties/correctness_preferred"]["value"] == 1.0


async def test_rewardbench2_perfect_ratings_mode(tmp_path):
    data = write_jsonl(tmp_path / "rb2.jsonl", rb2_records())
    summary, _ = await bench_run("rewardbench2", [data], OracleScores(), tmp_path)
    assert_perfect_rb2(summary) and summary["kind"] == "pointwise"


async def test_rewardbench2_always_a_scores_the_share_of_correct_answers_shown_first(tmp_path):
    data = write_jsonl(tmp_path / "rb2.jsonl", rb2_records())
    summary, rows = await bench_run("rewardbench2", [data], FixedFourWay(always=0), tmp_path, seed=3)
    firsts = {}
    for r in rows:
        if r.subset != "Ties":
            firsts.setdefault(r.subset, []).append(correct_position(3, r.id) == 0)
    for subset, hits in firsts.items():
        assert summary["sections"][subset]["value"] == pytest.approx(sum(hits) / len(hits))
    assert summary["position"]["pick_rate"]["A"] == 1.0
    # no ratings grader: Ties is left out, listed as missing, and the headline is partial
    assert "Ties" in summary["missing"] and summary["headline"]["partial"]
    assert any("Ties prompts not scored" in n for n in summary["notes"])


async def test_judgebench_official_counter(tmp_path):
    data = write_jsonl(tmp_path / "jb.jsonl", judgebench_records())
    perfect, _ = await bench_run("judgebench", [data], OraclePairwise(), tmp_path / "p")
    assert set(numbers(perfect).values()) - {0.0} == {1.0} and perfect["metrics"]["inconsistent"]["value"] == 0
    both, _ = await bench_run("judgebench", [data], ALWAYS_A, tmp_path / "b")
    assert both["headline"]["value"] == 0.0  # A then (mapped back) B: the counter is 0 on every pair
    assert both["extra"]["counts"]["tie"] == 8 and both["extra"]["counts"]["inconsistent"] == 8
    assert both["conventions"]["error_credit"] == "official counter"  # the error convention does not apply
    single, _ = await bench_run("judgebench", [data], ALWAYS_A, tmp_path / "s", orders="single")
    assert single["headline"]["value"] == pytest.approx(5 / 8)  # the share of A>B labels
    scores, _ = await bench_run("judgebench", [data], OracleScores(), tmp_path / "r")
    assert scores["headline"]["value"] == 1.0 and scores["kind"] == "pointwise"


@pytest.mark.parametrize("convention, value", [("chance", 0.5), ("zero", 0.0)])
async def test_unreadable_verdicts_score_the_recorded_convention(tmp_path, rewardbench_file, convention, value):
    summary, _ = await bench_run("rewardbench", [rewardbench_file], Unreadable(), tmp_path, limit=5,
                                 error_credit=convention)
    assert set(numbers(summary).values()) == {value}
    assert summary["conventions"]["error_credit"] == convention and summary["conventions"]["error_value"] == value
    assert summary["errors"]["parse_failure_rate"] == 1.0 and summary["errors"]["by_kind"] == {"parse_error": 110}
    saved = json.loads((tmp_path / "rewardbench" / "summary.json").read_text())
    assert saved["conventions"] == summary["conventions"]


async def test_wrong_kind_of_grader_is_one_clear_error(tmp_path):
    data = write_jsonl(tmp_path / "rb2.jsonl", rb2_records())
    with pytest.raises(BenchmarkError, match="needs a four_way or pointwise grader"):
        await bench_run("rewardbench2", [data], ALWAYS_A, tmp_path)
    with pytest.raises(BenchmarkError, match="must score one response"):
        await bench_run("rewardbench2", [data], FixedFourWay(), tmp_path, ratings_grader=ALWAYS_A)

"""The main job (`rm-gallery demo`): its figures and wording on fixed verdicts, in-process on the tiny model,
against the real vLLM server, and end to end on the built-in real judge (SmolLM2)."""

import json
from collections import Counter

import pytest

from rm_gallery.benchmarks.stats import bootstrap_ci
from rm_gallery.cli import main
from rm_gallery.local import demo, demo_report
from rm_gallery.types import GraderError, Label, Message, Response, Sample, Verdict

# -- the bundled pairs -----------------------------------------------------------------------------------------


def test_bundled_pairs_are_balanced_labelled_pairs():
    from rm_gallery.loaders import load_samples

    samples = load_samples(demo.bundled_pairs())
    assert len(samples) >= 60 and len({s.id for s in samples}) == len(samples)
    assert all(len(s.responses) == 2 and s.responses[0].content != s.responses[1].content for s in samples)
    # Every pair names a better side, and the better side comes first in half of them: chance is 50%.
    assert Counter(s.label.preferred for s in samples) == {"A": len(samples) // 2, "B": len(samples) // 2}
    domains = Counter(s.metadata["domain"] for s in samples)
    assert set(domains) == {"chat", "math", "code", "safety", "instruction_following"}
    assert min(domains.values()) >= 12


# -- figures and wording on fixed verdicts -----------------------------------------------------------------------


def pair(i: int, label: str, domain: str = "chat") -> Sample:
    return Sample(id=f"p{i}", messages=[Message(role="user", content="q?")],
                  responses=[Response(content=f"a{i}"), Response(content=f"b{i}")], label=Label(preferred=label),
                  metadata={"domain": domain})


def judged(ab: str | None, ba: str | None, p: float | None = None) -> Verdict | GraderError:
    """A both-order result as PositionDebiasedGrader stores it (winners in original labels; None = unreadable)."""
    orders = {k: ({"kind": "verdict", "winner": w} if w else {"kind": "parse_error", "raw": "?"})
              for k, w in (("ab", ab), ("ba", ba))}
    meta = {"orders": orders}
    if ab is None or ba is None:
        return GraderError(kind="parse_error", message="no verdict", metadata=meta)
    winner = ab if ab == ba else "tie"
    return Verdict(winner=winner, probability=p, metadata={**meta, "consistent": ab == ba})


def test_figures_by_hand():
    samples = [pair(0, "A"), pair(1, "B"), pair(2, "A", "math"), pair(3, "B", "math")]
    results = [judged("A", "A"),   # right in both orders
               judged("A", "B"),   # right only when the better one (A) was shown first: changed its mind
               judged("A", None),  # right in one order, unreadable in the other
               judged("A", "A")]   # wrong in both orders
    s = demo_report.summarise(samples, results)
    assert (s["pairs"], s["judgments"], s["orders_per_pair"]) == (4, 8, 2)
    assert s["accuracy"] == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)
    # A shown first in order ab for label A, in order ba for label B.
    assert s["accuracy_better_first"] == pytest.approx(3 / 4)   # ab of p0, p1, p2 right; ba of p3 wrong
    assert s["accuracy_better_second"] == pytest.approx(1 / 4)  # ba of p0 right; ba of p1, p2, ab of p3 not
    assert s["position_consistency"] == pytest.approx(2 / 3) and s["consistency_pairs"] == 3
    assert s["parse_failures"] == 1 and s["parse_failure_rate"] == pytest.approx(1 / 8)
    assert s["first_shown_rate"] == pytest.approx(5 / 7)  # 7 readable picks; p0's and p3's ba went to the second
    assert s["combined_accuracy"] is None  # no probabilities: no combined decision
    assert s["by_domain"]["chat"]["accuracy"] == pytest.approx(0.75)
    assert s["by_domain"]["math"]["accuracy"] == pytest.approx(0.25)
    assert s["outcomes"] == {"verdict": 3, "parse_error": 1}


def test_a_judge_that_follows_the_position_scores_chance_and_always_changes_its_mind():
    samples = [pair(i, "AB"[i % 2]) for i in range(40)]
    results = [judged("A", "B") for _ in samples]  # always the response shown first
    s = demo_report.summarise(samples, results)
    assert s["accuracy"] == 0.5 and s["accuracy_ci"] == (0.5, 0.5)
    assert (s["accuracy_better_first"], s["accuracy_better_second"], s["first_shown_rate"]) == (1.0, 0.0, 1.0)
    assert s["position_consistency"] == 0.0
    words = " ".join(demo_report.plain_words(s))
    assert "picked the better response in **50%** of its judgments (95% CI 50–50%)" in words
    assert "changed its mind in **100%** of the 40 pairs" in words
    assert "Chance is 50%" in words and "always picks the response in the same position" in words


def test_ci_is_a_seeded_bootstrap_over_pairs():
    samples = [pair(i, "A") for i in range(50)]
    results = [judged("A", "A", 0.9) if i < 30 else judged("B", "B", 0.1) for i in range(50)]
    s = demo_report.summarise(samples, results)
    assert s["accuracy"] == pytest.approx(0.6) and s["combined_accuracy"] == pytest.approx(0.6)
    boot = demo_report.BOOTSTRAP
    expected = bootstrap_ci({"pairs": [1.0] * 30 + [0.0] * 20},
                            lambda m: {"accuracy": sum(m["pairs"]) / len(m["pairs"])},
                            n=boot["replicates"], seed=boot["seed"])["accuracy"]
    assert s["accuracy_ci"] == pytest.approx(expected)
    se = (0.6 * 0.4 / 50) ** 0.5  # the normal approximation: the bootstrap lands close to it
    assert s["accuracy_ci"][0] == pytest.approx(0.6 - 1.96 * se, abs=0.03)
    assert s["accuracy_ci"][1] == pytest.approx(0.6 + 1.96 * se, abs=0.03)
    assert demo_report.summarise(samples, results)["accuracy_ci"] == s["accuracy_ci"]  # reproducible


def test_combined_decision_reads_the_mean_probability():
    samples = [pair(0, "A"), pair(1, "B"), pair(2, "A")]
    # Both orders picked the first shown (inconsistent), but the mean P(A better) still leans one way.
    results = [judged("A", "B", 0.6), judged("A", "B", 0.45), judged("A", "B", 0.3)]
    s = demo_report.summarise(samples, results)
    assert s["accuracy"] == 0.5 and s["combined_accuracy"] == pytest.approx(2 / 3)
    assert "Pairwise-RL's symmetric score" in " ".join(demo_report.plain_words(s))


@pytest.mark.parametrize(("ci", "words"), [((0.55, 0.7), "better than chance"), ((0.3, 0.45), "worse than chance"),
                                           ((0.45, 0.6), "not distinguishable from chance on 80 pairs")])
def test_verdict_on_chance_follows_the_ci(ci, words):
    assert demo_report.verdict_on_chance(0.5, ci, 80).startswith(words)


def test_report_names_the_judge_and_the_grader(tmp_path):
    samples = [pair(i, "AB"[i % 2]) for i in range(20)]
    results = [judged("AB"[i % 2], "AB"[i % 2], 0.8 if i % 2 == 0 else 0.2) for i in range(20)]
    s = demo_report.summarise(samples, results)
    info = {"judge": "SmolLM2-135M-Instruct (test)", "grader": "win_probability", "grader_about": "Asks yes/no.",
            "data": "20 labelled pairs", "timings": {"grading 40 judgments": 12.3}, "tokens": (150.0, 1.0)}
    report = demo_report.write_report(tmp_path, s, info).read_text()
    assert "**Judge:** SmolLM2-135M-Instruct (test)." in report and "`win_probability`" in report
    assert "**100%**" in report and "better than chance" in report and "random weights" not in report
    assert "| chat | 20 | 100% | 0% |" in report and "grading 40 judgments 12 s" in report
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["accuracy"] == 1.0 and saved["run"]["grader"] == "win_probability"


# -- the demo end to end -------------------------------------------------------------------------------------------


def test_demo_in_process_on_the_tiny_model(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "DEFAULT_TINY_DIR", tiny_model_dir)
    out = tmp_path / "demo"
    assert main(["demo", "--model", "tiny", "--backend", "transformers", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"] == 80 and summary["judgments"] == 160 and summary["outcomes"] == {"verdict": 80}
    assert summary["parse_failures"] == 0  # the tiny judge is constrained to yes/no
    lo, hi = summary["accuracy_ci"]
    assert lo <= summary["accuracy"] <= hi and summary["position_consistency"] is not None
    assert summary["combined_accuracy"] is not None  # win_probability gives P(A better)
    report = (out / "report.md").read_text()
    assert "random weights" in report and "95% CI" in report and "`win_probability`" in report
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 80
    assert all({"ab", "ba"} == set(r["result"]["metadata"]["orders"]) for r in results)
    assert "report:" in capsys.readouterr().out


@pytest.mark.integration
def test_demo_against_vllm(vllm_server, tmp_path):
    out = tmp_path / "demo"
    code = main(["demo", "--base-url", vllm_server.base_url, "--model", vllm_server.model_name, "--grader",
                 "pairwise", "--constrain", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcomes"].get("verdict", 0) + summary["outcomes"].get("parse_error", 0) == 80
    assert summary["parse_failures"] == 0  # constrained to the verdict format
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert all(set(r["result"]["metadata"]["orders"]) == {"ab", "ba"} for r in results)


@pytest.mark.integration
@pytest.mark.slow
def test_demo_on_smollm2(smollm2_server, tmp_path):
    """The default demo (win_probability, both orders) on the real judge: every figure of the report is there."""
    out = tmp_path / "demo"
    assert main(["demo", "--base-url", smollm2_server.base_url, "--model", smollm2_server.model_name,
                 "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["pairs"] == 80 and s["judgments"] == 160
    # SmolLM2 answers yes or no: the grader reads nearly every answer.
    assert s["parse_failure_rate"] < 0.05
    lo, hi = s["accuracy_ci"]
    assert lo <= s["accuracy"] <= hi and hi - lo < 0.3
    assert s["position_consistency"] is not None and s["combined_accuracy"] is not None
    report = (out / "report.md").read_text()
    assert "SmolLM2-135M-Instruct" in report and "Chance is 50%" in report and "changed its mind" in report
    assert "random weights" not in report
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    orders = [r["result"]["metadata"]["orders"] for r in results if r["result"]["kind"] == "verdict"]
    assert orders and all(0.0 <= o[k]["probability"] <= 1.0 for o in orders for k in ("ab", "ba"))

"""``rm-gallery meta-eval`` and ``rm-gallery compare`` end to end over HTTP against stub judges.

The stubs are scripted (always the first shown, or whichever response says GOOD), so every number asserted here
follows from the script: these tests pin the plumbing (grading in both orders, reading runs back, reports, plots,
one-line errors), and the metric modules' own tests pin the arithmetic.
"""

import json

import pytest

from rm_gallery.cli import main
from rm_gallery.metaeval.calibration import logistic
from rm_gallery.testing.stub_server import StubServer

PNG = b"\x89PNG\r\n\x1a\n"
N = 12


def good_first(request: dict) -> bool:
    text = request["messages"][-1]["content"]
    return text.index("GOOD") < text.index("BAD")


def picks_good(request: dict) -> str:
    """A pairwise judge that names the GOOD response, sure of itself (confidence 0.9)."""
    return f"<preference>{'A' if good_first(request) else 'B'}</preference><confidence>0.9</confidence>"


def yes_if_good_first(request: dict) -> str:
    """The win-probability judge's one word: yes when response 1 is the GOOD one."""
    return "yes" if good_first(request) else "no"


def rubric_score(request: dict) -> str:
    """A rubric judge that scores the GOOD response 8 and any other 3 (spaced, so the stub's tokens are words)."""
    return f"<eval> checked </eval> <answer> {8 if 'GOOD' in request['messages'][-1]['content'] else 3} </answer>"


@pytest.fixture(scope="module")
def servers():
    with StubServer() as first, StubServer(picks_good) as good, StubServer(yes_if_good_first) as yes_no, \
            StubServer(rubric_score) as rubric:
        yield {"first": first, "good": good, "yes_no": yes_no, "rubric": rubric}


@pytest.fixture
def data(tmp_path):
    rows = []
    for i in range(N):
        chosen = f"GOOD answer {i}" + (" with many more words to make it long" * 2 if i % 2 else "")
        rejected = f"BAD answer {i}" + ("\n- one\n- two" if i % 3 == 0 else "")
        rows.append({"id": f"q{i}", "subset": "x" if i < 8 else "y", "prompt": f"Question {i}?", "chosen": chosen,
                     "rejected": rejected})
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def model(server):
    return ["--model", "stub-judge", "--base-url", server.base_url, "--no-cache", "--no-progress"]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and err.startswith("error: "), err
    return err


def test_bench_report_has_the_section_and_meta_eval_reads_the_directory(tmp_path, servers, rewardbench_file,
                                                                         capsys):
    out = tmp_path / "rb"
    assert main(["bench", "rewardbench", "--grader", "pairwise", "--data", str(rewardbench_file), "--limit", "3",
                 "--out", str(out), "--bootstrap", "20", *model(servers["first"])]) == 0
    summary = json.loads((out / "summary.json").read_text())
    meta = summary["meta"]
    pos = meta["position"]  # always the first shown: right as given, wrong swapped, every verdict flips
    assert meta["pairs"] == 33 and pos["first_shown_rate"] == 1.0 and pos["consistency"] == 0.0
    assert pos["first_both_orders"] == 33 and pos["sign_test_p"] == pytest.approx(2 * 0.5 ** 33)
    assert meta["agreement"]["kappa"] == 0.0  # presentation order: labels A/B half each, verdicts all A
    assert meta["agreement"]["matrix"]["B"]["A"] == 33 and meta["calibration"] == {}
    assert meta["cost"]["verdicts"] == 66 and meta["cost"]["wall_s_per_1000"] > 0
    report = (out / "report.md").read_text()
    assert "## Judge meta-evaluation" in report and "### Calibration" in report and "### Cost" in report
    assert "\n## Position" not in report and report.count("### Position") == 1  # the meta section replaces it
    assert not (out / "reliability.png").exists()  # nothing to calibrate

    capsys.readouterr()
    assert main(["meta-eval", str(out), "--price-in", "1", "--price-out", "3"]) == 0
    again = json.loads((out / "meta.json").read_text())
    for section in ("position", "length", "markdown", "agreement", "strata"):
        assert again[section] == meta[section]  # rebuilt from the data the run recorded: the same pairs
    assert again["cost"]["money"] == pytest.approx((again["cost"]["prompt_tokens"] +
                                                    3 * again["cost"]["completion_tokens"]) / 1e6)
    assert again["info"]["benchmark"] == "rewardbench" and "first shown picked 100.0%" in capsys.readouterr().out
    assert "money / 1k" in (out / "meta.md").read_text()


def test_grade_results_file_with_win_probability(tmp_path, servers, data):
    res = tmp_path / "res.jsonl"
    assert main(["grade", str(data), "--grader", "win_probability", "--out", str(res), *model(servers["yes_no"])]) == 0
    assert main(["meta-eval", str(res)]) == 0  # the data file is found through res.jsonl.summary.json
    meta = json.loads((tmp_path / "res.jsonl.meta" / "meta.json").read_text())
    prob = meta["calibration"]["probability"]
    assert prob["n"] == N and prob["observed_rate"] == 1.0 and prob["mean_probability"] > 0.9
    assert prob["ece"] == pytest.approx(1 - prob["mean_probability"])  # one bin, every label A
    # the symmetric judge records both orders itself: the position section sees them
    assert meta["agreement"]["accuracy"] == 1.0 and meta["position"]["pairs_both_orders"] == N
    assert (tmp_path / "res.jsonl.meta" / "reliability.png").read_bytes().startswith(PNG)


def test_data_file_graded_in_both_orders_then_compared(tmp_path, servers, data, capsys):
    good, first = tmp_path / "good", tmp_path / "first"
    assert main(["meta-eval", str(data), "--grader", "pairwise_confidence", "--out", str(good),
                 *model(servers["good"])]) == 0
    meta = json.loads((good / "meta.json").read_text())
    assert meta["judgments"] == 2 * N and meta["position"]["consistency"] == 1.0
    assert meta["agreement"]["kappa"] == 1.0 and meta["strata"] == {"x": 8, "y": 4}
    conf = meta["calibration"]["confidence"]
    assert conf["n"] == 2 * N and conf["ece"] == pytest.approx(0.1)  # says 0.9, right every time
    length = meta["length"]  # odd rows: the chosen response is the longer one
    assert length["judgments"]["chosen_has"] == N and length["prefer_rate"] == 1.0 == length["label_rate"]
    assert meta["markdown"]["decided"] == 8 and meta["markdown"]["prefer_rate"] == 0.0  # BAD has the list
    assert (good / "reliability.png").exists() and json.loads((good / "run.json").read_text())["orders"] == "both"
    assert main(["meta-eval", str(data), "--grader", "pairwise_confidence", "--out", str(good),
                 *model(servers["good"])]) == 2
    assert "already exists: pass --resume" in one_error_line(capsys)

    assert main(["meta-eval", str(data), "--grader", "pairwise", "--out", str(first),
                 *model(servers["first"])]) == 0
    cmp_dir = tmp_path / "cmp"
    capsys.readouterr()
    assert main(["compare", str(good), str(first), "--out", str(cmp_dir), "--bootstrap", "200"]) == 0
    result = json.loads((cmp_dir / "compare.json").read_text())
    o = result["overall"]
    assert (o["n"], o["only_a"], o["only_b"]) == (2 * N, N, 0)  # the first-shown judge is right only as given
    assert o["p"] == pytest.approx(2 * 0.5 ** N) and set(result["subsets"]) == {"x", "y"}
    assert result["subsets"]["y"]["p_holm"] >= result["subsets"]["y"]["p"]
    stdout = capsys.readouterr().out
    assert "A is more accurate than B by 50.0 points" in stdout and "| **all** | 24 |" in stdout
    assert (cmp_dir / "compare.png").read_bytes().startswith(PNG)

    short = tmp_path / "short"
    assert main(["meta-eval", str(data), "--grader", "pairwise", "--out", str(short), "--limit", "5",
                 *model(servers["first"])]) == 0
    capsys.readouterr()
    assert main(["compare", str(good), str(short), "--out", str(cmp_dir)]) == 2
    assert "14 judgments only in A" in one_error_line(capsys)
    assert main(["compare", str(good), str(short), "--out", str(cmp_dir), "--intersect", "--bootstrap", "0"]) == 0
    assert json.loads((cmp_dir / "compare.json").read_text())["overall"]["n"] == 10


def test_rmbench_style_variants(tmp_path, servers, rmbench_dir):
    out = tmp_path / "rm"
    assert main(["bench", "rmbench", "--grader", "pairwise", "--data", str(rmbench_dir), "--limit", "1", "--out",
                 str(out), "--bootstrap", "0", "--no-plots", *model(servers["first"])]) == 0
    meta = json.loads((out / "summary.json").read_text())["meta"]
    styles = meta["styles"]  # always the first shown: every cell right as given and wrong swapped
    assert (styles["hard"], styles["normal"], styles["easy"]) == (0.5, 0.5, 0.5) and len(styles["cells"]) == 9
    assert meta["strata"] == {"chat": 9, "code": 9, "safety": 9}  # --limit 1 row per domain, 9 pairs each
    assert "style: hard" in (out / "report.md").read_text()
    assert main(["meta-eval", str(out), "--no-plots"]) == 0  # units rebuilt from the directory of domain files
    assert json.loads((out / "meta.json").read_text())["styles"] == styles


def test_pointwise_expected_scores_are_calibrated_by_the_score_gap(tmp_path, servers, data):
    out = tmp_path / "rubric"
    assert main(["meta-eval", str(data), "--grader", "rubric", "--grader-arg", "score_mode=expected", "--out",
                 str(out), *model(servers["rubric"])]) == 0
    meta = json.loads((out / "meta.json").read_text())
    gap = meta["calibration"]["score_gap"]  # expected scores 8 and 3 from the logprobs: gap 5, P = logistic(5)
    assert gap["n"] == N and gap["mean_probability"] == pytest.approx(logistic(5))
    assert gap["ece"] == pytest.approx(1 - logistic(5))
    # every label A and every gap positive: perfectly separated, the fit runs to its sharpest temperature
    assert gap["fitted_temperature"] == pytest.approx(0.01) and gap["fitted_at_bound"]
    assert "at the edge of the search range" in (out / "meta.md").read_text()
    assert meta["position"] is None and meta["judgments"] == N and meta["agreement"]["judgments"] == 2 * N
    assert meta["agreement"]["kappa"] == 1.0
    assert main(["meta-eval", str(out), "--score-temperature", "5", "--no-plots"]) == 0
    hot = json.loads((out / "meta.json").read_text())["calibration"]["score_gap"]
    assert hot["mean_probability"] == pytest.approx(logistic(1)) and hot["temperature"] == 5.0


def test_one_line_errors(tmp_path, servers, data, capsys):
    assert main(["meta-eval", str(data)]) == 2
    assert "is a data file: pass --grader NAME and --model NAME" in one_error_line(capsys)
    assert main(["meta-eval", str(tmp_path / "nothing")]) == 2
    assert "no such file or directory" in one_error_line(capsys)
    res = tmp_path / "res.jsonl"
    assert main(["grade", str(data), "--grader", "pairwise", "--out", str(res), *model(servers["first"])]) == 0
    (tmp_path / "res.jsonl.summary.json").unlink()
    capsys.readouterr()
    assert main(["meta-eval", str(res)]) == 2
    assert "pass the data file it graded with --data" in one_error_line(capsys)
    other = tmp_path / "other.jsonl"  # data that is not what the run graded
    other.write_text(data.read_text().replace('"q', '"z'))
    assert main(["meta-eval", str(res), "--data", str(other)]) == 2
    assert "result row" in (err := one_error_line(capsys)) and "pass the data this run graded" in err
    assert main(["meta-eval", str(res), "--data", str(data)]) == 0
    assert main(["meta-eval", str(tmp_path)]) == 2
    assert "neither a benchmark run nor a meta-eval run directory" in one_error_line(capsys)

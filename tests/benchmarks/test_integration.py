"""Each benchmark end to end through the CLI, the runner and a real vLLM server with the tiny model.

The tiny model's weights are random, so accuracy means nothing here; vLLM's structured-output choice makes its
answers parseable, and everything else (requests, both orders, parsing, scoring, report files, plots) is real.
"""

import json

import pytest

from rm_gallery.cli import main

from .conftest import judgebench_records, rb2_records, write_jsonl, write_rmb_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PNG = b"\x89PNG\r\n\x1a\n"


def choice(*options: str) -> str:
    return json.dumps({"structured_outputs": {"choice": list(options)}})


PAIRWISE = ["--grader", "pairwise", "--param", "max_tokens=16",
            "--param", "extra_body=" + choice("<preference>A</preference>", "<preference>B</preference>")]


def run(vllm_judge, benchmark: str, data, out, *extra: str) -> dict:
    code = main(["bench", benchmark, "--data", str(data), "--out", str(out), "--model", vllm_judge.model_name,
                 "--base-url", vllm_judge.base_url, "--no-cache", "--no-progress", "--concurrency", "16",
                 "--bootstrap", "200", *extra])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"]["failure_rate"] == 0, summary["errors"]
    assert summary["headline"]["value"] is not None and summary["headline"]["ci"] is not None
    assert (out / "report.md").exists() and (out / "sections.png").read_bytes().startswith(PNG)
    assert len((out / "samples.jsonl").read_text().splitlines()) == summary["samples"]
    return summary


def shortest(rows: list[dict], n: int, size) -> list[dict]:
    """The n shortest rows (the tiny model has a 4k-token context)."""
    return sorted(rows, key=size)[:n]


def test_rewardbench(vllm_judge, tmp_path, rewardbench_rows):
    rows = shortest(rewardbench_rows, 20, lambda r: len(r["prompt"]) + len(r["chosen"]) + len(r["rejected"]))
    summary = run(vllm_judge, "rewardbench", write_jsonl(tmp_path / "rb.jsonl", rows), tmp_path / "rb", *PAIRWISE)
    assert summary["errors"]["judgments"] == 40 and summary["position"]["pairs_both_orders"] == 20
    assert (tmp_path / "rb" / "position.png").exists()


def test_rmbench(vllm_judge, tmp_path, rmbench_dir):
    rows = []
    for domain_file in sorted(rmbench_dir.glob("*_filtered.json")):
        domain = domain_file.name.split("_")[0].split("-")[0]
        rows += [{**r, "id": f"{domain}/{r['id']}"} for r in json.loads(domain_file.read_text())]
    rows = shortest(rows, 8, lambda r: len(r["prompt"]) + max(map(len, r["chosen"] + r["rejected"])))
    data = tmp_path / "total_dataset.json"
    data.write_text(json.dumps(rows))
    summary = run(vllm_judge, "rmbench", data, tmp_path / "rm", *PAIRWISE)
    assert summary["samples"] == 8 * 9 and summary["errors"]["judgments"] == 8 * 9 * 2
    assert (tmp_path / "rm" / "rmbench_heatmap.png").read_bytes().startswith(PNG)


def test_rewardbench2_four_way_and_ties_ratings(vllm_judge, tmp_path):
    ratings = {"max_tokens": 16, "extra_body": {"structured_outputs": {"choice": ["<answer>3</answer>",
                                                                                 "<answer>7</answer>"]}}}
    summary = run(vllm_judge, "rewardbench2", write_jsonl(tmp_path / "rb2.jsonl", rb2_records()), tmp_path / "rb2",
                  "--grader", "four_way", "--param", "max_tokens=8",
                  "--param", "extra_body=" + choice("[[A]]", "[[B]]", "[[C]]", "[[D]]"),
                  "--ratings-grader", "rubric", "--ratings-grader-arg", "params=" + json.dumps(ratings))
    assert summary["missing"] == [] and summary["errors"]["judgments"] == 16 + 2 * (3 + 5)
    assert summary["sections"]["Ties"]["value"] is not None


def test_judgebench(vllm_judge, tmp_path):
    summary = run(vllm_judge, "judgebench", write_jsonl(tmp_path / "jb.jsonl", judgebench_records()),
                  tmp_path / "jb", *PAIRWISE)
    counts = summary["extra"]["counts"]
    assert counts["pairs"] == 8 and counts["correct"] + counts["incorrect"] + counts["tie"] == 8


def test_rmb_pairwise_and_pointwise(vllm_judge, tmp_path):
    data = write_rmb_dir(tmp_path)
    pair = run(vllm_judge, "rmb", data, tmp_path / "pair", *PAIRWISE)
    assert pair["samples"] == 9 + 15 and pair["errors"]["judgments"] == 2 * 24
    assert set(pair["sections"]) == {"Pairwise Helpfulness", "Pairwise Harmlessness", "BoN Helpfulness",
                                     "BoN Harmlessness"}
    ratings = {"max_tokens": 16, "extra_body": {"structured_outputs": {"choice": ["<answer>3</answer>",
                                                                                 "<answer>7</answer>"]}}}
    point = run(vllm_judge, "rmb", data, tmp_path / "point", "--grader", "rubric",
                "--grader-arg", "params=" + json.dumps(ratings))
    assert point["kind"] == "pointwise" and point["errors"]["judgments"] == 2 * 9 + 3 * 3 + 3 * 4

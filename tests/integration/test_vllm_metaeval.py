"""``rm-gallery meta-eval`` and ``compare`` against real vLLM serving the tiny random model.

The weights are random, so no number here says anything about judging quality; what is real is everything
else: logprob-based win probabilities in both orders, constrained verdicts, tokens and wall time from the
server, the calibration section and its plot, and a comparison of two judges on the same judgments.
"""

import json

import pytest

from rm_gallery.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PNG = b"\x89PNG\r\n\x1a\n"
PAIRS = 10


def choice(*options: str) -> str:
    return json.dumps({"structured_outputs": {"choice": list(options)}})


def test_meta_eval_and_compare_on_real_vllm(vllm_judge, tmp_path, short_rewardbench_rows):
    rows = sorted(short_rewardbench_rows, key=lambda r: len(r["prompt"]) + len(r["chosen"]) + len(r["rejected"]))
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows[:PAIRS]))
    server = ["--model", vllm_judge.model_name, "--base-url", vllm_judge.base_url, "--no-cache", "--no-progress",
              "--concurrency", "8"]
    wp, pw = tmp_path / "win_probability", tmp_path / "pairwise"
    # per-order probabilities (symmetric=false): the debiasing wrapper judges both orders and averages P(A wins)
    assert main(["meta-eval", str(data), "--grader", "win_probability", "--grader-arg", "symmetric=false",
                 "--grader-arg", "constrain=true", "--out", str(wp), "--price-in", "0.1", "--price-out", "0.4",
                 *server]) == 0
    meta = json.loads((wp / "meta.json").read_text())
    assert meta["pairs"] == PAIRS and meta["judgments"] == 2 * PAIRS and meta["agreement"]["coverage"] == 1.0
    prob = meta["calibration"]["probability"]
    assert prob["n"] == PAIRS and 0 <= prob["ece"] <= 1 and 0 <= prob["brier"] <= 1
    assert prob["observed_rate"] == 1.0  # RewardBench rows: the chosen response is always A
    assert (wp / "reliability.png").read_bytes().startswith(PNG)
    cost = meta["cost"]
    assert cost["prompt_tokens_per_1000"] > 0 and cost["completion_tokens_per_1000"] > 0
    assert cost["wall_s_per_1000"] > 0 and cost["money_per_1000"] > 0
    stored = [json.loads(line) for line in (wp / "samples.jsonl").read_text().splitlines()]
    assert all(set(r["result"]["metadata"]["orders"]) == {"ab", "ba"} for r in stored)

    assert main(["meta-eval", str(data), "--grader", "pairwise", "--param", "max_tokens=16", "--param",
                 "extra_body=" + choice("<preference>A</preference>", "<preference>B</preference>"),
                 "--out", str(pw), *server]) == 0
    assert json.loads((pw / "meta.json").read_text())["agreement"]["coverage"] == 1.0
    out = tmp_path / "cmp"
    assert main(["compare", str(wp), str(pw), "--out", str(out), "--bootstrap", "200"]) == 0
    result = json.loads((out / "compare.json").read_text())
    o = result["overall"]
    assert o["n"] == 2 * PAIRS and o["only_a"] + o["only_b"] <= o["n"] and 0 < o["p"] <= 1
    assert (out / "compare.png").read_bytes().startswith(PNG) and "McNemar" in (out / "compare.md").read_text()

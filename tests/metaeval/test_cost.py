"""Tokens, wall time and money per 1,000 verdicts."""

import pytest

from rm_gallery.metaeval.cost import cost_section

from .helpers import pair


def pairs():
    return [pair({"ab": "A", "ba": "B"}, prompt_tokens=1000, completion_tokens=10, latency_s=1.0),
            pair({"ab": None, "ba": "A"}, prompt_tokens=3000, completion_tokens=30, latency_s=3.0)]


def test_per_thousand_and_money():
    run = {"wall_s": 8.0, "outcomes": {"judge": {"verdict": 1, "parse_error": 1}}, "cache_hits": 0}
    c = cost_section(pairs(), run, price_in=0.5, price_out=2.0)
    assert c["verdicts"] == 4  # two orders of two pairs; the failed one was paid for too
    assert c["prompt_tokens_per_1000"] == pytest.approx(1_000_000) and c["completion_tokens_per_1000"] == 10_000
    assert c["wall_s_per_1000"] == pytest.approx(2000.0)  # 8 s for 2 results x 2 judgments
    assert c["mean_latency_s"] == 2.0
    assert c["money"] == pytest.approx((4000 * 0.5 + 40 * 2.0) / 1e6)
    assert c["money_per_1000"] == pytest.approx(0.52) and c["notes"] == []


def test_unknown_wall_time_and_cache_note():
    assert "money" not in cost_section(pairs())
    assert cost_section(pairs())["wall_s_per_1000"] is None and "no run summary" in cost_section(pairs())["notes"][0]
    resumed = cost_section(pairs(), {"wall_s": 0.1, "outcomes": {}})
    assert resumed["wall_s_per_1000"] is None and "all resumed" in resumed["notes"][0]
    cached = cost_section(pairs(), {"wall_s": 1.0, "outcomes": {"judge": {"verdict": 2}}, "cache_hits": 3})
    assert cached["wall_s_per_1000"] == pytest.approx(250.0) and "cache" in cached["notes"][0]
    assert cost_section([], None)["prompt_tokens_per_1000"] is None
    assert cost_section(pairs(), price_out=1.0)["money"] == pytest.approx(40 / 1e6)  # one price given

"""GradingRunner over real HTTP (in-process stub): order, cache, resume, isolation, aggregates, memory."""

import contextlib
import json
import random
import re
import subprocess
import sys

import pytest

from rm_gallery.aggregate import MajorityVote, WeightedMean
from rm_gallery.graders.function import FunctionGrader
from rm_gallery.graders.pairwise import PairwiseGrader
from rm_gallery.results_io import read_results
from rm_gallery.runner import GradingRunner
from rm_gallery.testing.stub_server import StubServer
from rm_gallery.types import GraderError, Score, Verdict


def parity_reply(req):
    """Prefers A for even-numbered questions and B for odd ones, so each answer is tied to its sample."""
    n = int(re.search(r"question (\d+)", req["messages"][-1]["content"]).group(1))
    return f"<analysis>q{n}</analysis><preference>{'A' if n % 2 == 0 else 'B'}</preference>"


def records(n, start=0):
    return [{"id": f"s{i}", "prompt": f"question {i}", "chosen": "x", "rejected": "y"} for i in range(start, start + n)]


def check_parity(results):
    for r in results:
        n = int(r.sample_id[1:])
        assert r.results["pref"].winner == ("A" if n % 2 == 0 else "B"), r.sample_id


async def test_order_preserved_at_concurrency_256_with_random_latencies(make_model):
    rng = random.Random(1)
    async with StubServer(parity_reply, latency=lambda: rng.uniform(0, 0.03)) as srv:
        runner = GradingRunner({"pref": PairwiseGrader(make_model(srv.base_url))}, concurrency=256, progress=False)
        results = await runner.arun(records(3000))
        assert srv.max_in_flight > 100  # really concurrent
    assert [r.sample_id for r in results] == [f"s{i}" for i in range(3000)]
    assert [r.index for r in results] == list(range(3000))
    check_parity(results)
    assert runner.summary.outcomes["pref"]["verdict"] == 3000 and runner.summary.requests == 3000


async def test_in_flight_work_is_bounded_by_concurrency(make_model):
    async with StubServer(latency=0.01) as srv:
        runner = GradingRunner({"pref": PairwiseGrader(make_model(srv.base_url))}, concurrency=7, progress=False)
        await runner.arun(records(200))
        assert srv.max_in_flight <= 7


async def test_second_run_is_served_from_cache_with_zero_requests(tmp_path, make_model):
    async with StubServer(parity_reply) as srv:
        grader = PairwiseGrader(make_model(srv.base_url))
        first = await GradingRunner({"pref": grader}, cache=tmp_path / "c.sqlite", progress=False).arun(records(300))
        assert srv.counts["requests"] == 300
        runner = GradingRunner({"pref": grader}, cache=tmp_path / "c.sqlite", progress=False)
        second = await runner.arun(records(300))
        assert srv.counts["requests"] == 300  # nothing new
    assert runner.summary.cache_hits == 300 and runner.summary.requests == 0
    assert [r["pref"].winner for r in first] == [r["pref"].winner for r in second]


async def test_resume_after_interruption_completes_without_duplicates(tmp_path, make_model):
    out = tmp_path / "results.jsonl"
    async with StubServer(parity_reply, latency=0.002) as srv:
        graders = {"pref": PairwiseGrader(make_model(srv.base_url)),
                   "len": FunctionGrader(lambda s: float(len(s.query)), name="len", scale=(0, 100))}
        runner = GradingRunner(graders, concurrency=32, output=out, progress=False)
        seen = 0
        async with contextlib.aclosing(runner.astream(records(1000))) as stream:
            async for _ in stream:
                seen += 1
                if seen == 400:
                    break  # the consumer walks away: in-flight work is cancelled, finished work is on disk
        lines_before = out.read_text().count("\n")
        assert 800 <= lines_before < 2000
        requests_before = srv.counts["requests"]
        # simulate a crash mid-write: half a line at the end
        with open(out, "ab") as f:
            f.write(b'{"index": 999, "sample_id": "s999", "gra')
        resumed = GradingRunner(graders, concurrency=32, output=out, resume=True, progress=False)
        results = await resumed.arun(records(1000))
    recs = list(read_results(out))
    keys = [(r["index"], r["grader"]) for r in recs]
    assert len(keys) == len(set(keys)) == 2000
    assert {(i, g) for i in range(1000) for g in ("pref", "len")} == set(keys)
    check_parity(results)
    assert [r.sample_id for r in results] == [f"s{i}" for i in range(1000)]
    pref_done_before = sum(1 for r in recs[:lines_before] if r["grader"] == "pref")
    assert srv.counts["requests"] - requests_before == 1000 - pref_done_before  # nothing graded twice
    assert resumed.summary.resumed == lines_before


async def test_resume_with_retry_errors_regrades_only_server_failures(tmp_path, make_model):
    """After an outage: api_error/timeout pairs are graded again (and their aggregates recomputed); parse
    errors and verdicts are kept; the file reads back with one (latest) record per pair."""
    out = tmp_path / "results.jsonl"
    down = {"s1", "s4"}
    outage = True

    def reply(req):
        content = req["messages"][-1]["content"]
        if "question 2" in content:
            return "no verdict here"  # a parse error: the judge's fault, never retried
        return parity_reply(req)

    graders = {"pref": None, "len": FunctionGrader(lambda s: float(len(s.query)), name="len", scale=(0, 100))}
    async with StubServer(reply) as srv:
        model = make_model(srv.base_url)

        class Outage(PairwiseGrader):
            async def grade(self, sample, ctx=None):
                if outage and sample.id in down:
                    from rm_gallery.client import ModelAPIError

                    raise ModelAPIError("HTTP 503 from stub: down for maintenance", status=503)
                return await super().grade(sample, ctx)

        graders["pref"] = Outage(model)
        first = await GradingRunner(graders, output=out, progress=False).arun(records(6))
        assert [first[i]["pref"].kind for i in (1, 2, 4)] == ["api_error", "parse_error", "api_error"]
        outage = False
        before = srv.counts["requests"]
        plain = GradingRunner(graders, output=out, resume=True, progress=False)
        await plain.arun(records(6))
        assert srv.counts["requests"] == before and plain.summary.retried == 0  # resume alone keeps the errors
        runner = GradingRunner(graders, output=out, resume=True, retry_errors=True, progress=False)
        results = await runner.arun(records(6))
        assert srv.counts["requests"] - before == 2 and runner.summary.retried == 2
    assert [r["pref"].kind for r in results] == ["verdict", "verdict", "parse_error", "verdict", "verdict", "verdict"]
    check_parity([r for r in results if r.sample_id != "s2"])
    recs = list(read_results(out))
    assert len(recs) == 12 and len({(r["index"], r["grader"]) for r in recs}) == 12
    assert {r["index"]: r["result"].kind for r in recs if r["grader"] == "pref"}[4] == "verdict"
    assert out.read_text().count("\n") == 14  # append-only: the two failed lines are still there, superseded


async def test_retry_errors_recomputes_the_aggregates_of_regraded_samples(tmp_path):
    out = tmp_path / "r.jsonl"
    failing = {"s0"}

    def score(sample):
        if sample.id in failing:
            from rm_gallery.client import ModelTimeoutError

            raise ModelTimeoutError("timed out")
        return 2.0

    graders = [FunctionGrader(score, name="a", scale=(0, 4)), FunctionGrader(lambda s: 4.0, name="b", scale=(0, 4))]
    aggs = {"mean": WeightedMean({"a": 1.0, "b": 1.0})}
    first = await GradingRunner(graders, aggregators=aggs, output=out, progress=False).arun(records(2))
    assert first[0]["a"].kind == "timeout" and first[0]["mean"].kind == "timeout"
    failing.clear()
    again = await GradingRunner(graders, aggregators=aggs, output=out, resume=True, retry_errors=True,
                                progress=False).arun(records(2))
    assert again[0]["mean"].value == pytest.approx(0.75) == again[1]["mean"].value   # (2/4 + 4/4) / 2
    assert again[1]["a"].value == 2.0
    final = {(r["index"], r["grader"]): r["result"] for r in read_results(out)}
    assert final[(0, "mean")].value == pytest.approx(0.75) and len(final) == 6


async def test_resume_refuses_a_file_written_for_other_input(tmp_path, make_model):
    from rm_gallery.results_io import ResultsFileError

    out = tmp_path / "r.jsonl"
    g = FunctionGrader(lambda s: 1.0, name="one")
    await GradingRunner([g], output=out, progress=False).arun(records(5))
    with pytest.raises(ResultsFileError, match="input changed"):
        await GradingRunner([g], output=out, resume=True, progress=False).arun(records(5, start=100))


async def test_one_bad_sample_never_stops_the_run(make_model):
    def flaky(sample):
        if sample.id == "s3":
            raise ZeroDivisionError("bug in user code")
        return 1.0

    rows = records(6)
    rows[1] = {"id": "s1", "prompt": "question 1", "chosen": "", "rejected": "y"}  # empty response
    async with StubServer(["<preference>A</preference>", "no verdict here"]) as srv:
        runner = GradingRunner({"pref": PairwiseGrader(make_model(srv.base_url)),
                                "flaky": FunctionGrader(flaky)}, concurrency=1, progress=False)
        results = await runner.arun(rows)
    assert len(results) == 6
    assert results[1]["pref"].kind == "invalid_input" and "field 'chosen'" in results[1]["pref"].message
    assert results[3]["flaky"].kind == "internal_error" and "ZeroDivisionError" in results[3]["flaky"].message
    kinds = runner.summary.outcomes["pref"]
    assert kinds["parse_error"] >= 2 and kinds["verdict"] >= 2 and kinds["invalid_input"] == 1
    assert 0 < runner.summary.parse_failure_rate < 1


async def test_api_errors_are_typed_results_not_zero(make_model):
    async with StubServer(plan=["http_500"] * 50) as srv:
        from rm_gallery.client import RetryPolicy

        model = make_model(srv.base_url, retry=RetryPolicy(max_retries=1, base=0.001))
        runner = GradingRunner({"pref": PairwiseGrader(model)}, concurrency=4, progress=False,
                               aggregators={"mean": WeightedMean()})
        results = await runner.arun(records(3))
    for r in results:
        assert isinstance(r["pref"], GraderError) and r["pref"].kind == "api_error"
        assert isinstance(r["mean"], GraderError) and "1 of 1 graders failed" in r["mean"].message


def test_aggregators_report_errors_instead_of_zero():
    ok = Score(value=8, scale=(0, 10))
    bad = GraderError(kind="timeout", message="slow")
    assert WeightedMean({"a": 1, "b": 3})({"a": ok, "b": Score(value=0.5, scale=(0, 1))}).value == pytest.approx(0.575)
    assert WeightedMean()({"a": ok, "b": bad}).kind == "timeout"
    skipped = WeightedMean(on_error="skip")({"a": ok, "b": bad})
    assert skipped.value == pytest.approx(0.8) and skipped.metadata["skipped"] == ["b"]
    assert MajorityVote()({"x": Verdict(winner="A"), "y": Verdict(winner="A"), "z": Verdict(winner="B")}).winner == "A"
    assert MajorityVote()({"x": Verdict(winner="A"), "y": Verdict(winner="B")}).winner == "tie"
    assert MajorityVote(on_error="skip")({"x": bad}).kind == "timeout"


async def test_aggregates_are_streamed_and_openjudge_column_access(tmp_path):
    out = tmp_path / "r.jsonl"
    runner = GradingRunner({"a": FunctionGrader(lambda s: 1.0), "b": FunctionGrader(lambda s: 0.0)},
                           aggregators={"avg": WeightedMean()}, output=out, progress=False)
    results = await runner.arun(records(4))
    assert [r.value for r in results["avg"]] == [0.5] * 4 and len(results["a"]) == 4
    recs = list(read_results(out))
    assert sum(1 for r in recs if r.get("aggregate")) == 4


async def test_dict_mapper_openjudge_style():
    seen = []
    g = FunctionGrader(lambda s: seen.append(s.responses[0].content) or 1.0)
    data = [{"q": {"text": "hi"}, "answers": ["first", "second"]}]
    mapper = {"prompt": "q.text", "chosen": "answers.0", "rejected": "answers.1"}
    results = await GradingRunner({"g": {"grader": g, "mapper": mapper}}, progress=False).arun(data)
    assert seen == ["first"] and results[0]["g"].value == 1.0
    bad = await GradingRunner({"g": {"grader": g, "mapper": {"prompt": "missing.path"}}}, progress=False).arun(data)
    assert bad[0]["g"].kind == "invalid_input"


async def test_sync_run_refuses_inside_a_running_loop():
    runner = GradingRunner([FunctionGrader(lambda s: 1.0)], progress=False)
    with pytest.raises(RuntimeError, match="await runner.arun"):
        runner.run(records(1))


def test_sync_run_outside_a_loop():
    results = GradingRunner([FunctionGrader(lambda s: 1.0, name="one")], progress=False).run(records(3))
    assert [r["one"].value for r in results] == [1.0] * 3


MEMORY_PROBE = r"""
import asyncio, resource, sys
from rm_gallery.client import OpenAIChatModel
from rm_gallery.graders.pairwise import PairwiseGrader
from rm_gallery.runner import GradingRunner
from rm_gallery.testing.stub_server import StubServer

def gen(n):
    for i in range(n):
        yield {"id": f"s{i}", "prompt": f"question {i} " + "x" * 200, "chosen": "a" * 300, "rejected": "b" * 300}

async def run(n, srv):
    model = OpenAIChatModel("stub-judge", base_url=srv.base_url, api_key="k")
    runner = GradingRunner({"pref": PairwiseGrader(model)}, concurrency=64, progress=False, output=sys.argv[1])
    count = 0
    async for _ in runner.astream(gen(n)):
        count += 1
    await model.aclose()
    return count

srv = StubServer().start_in_thread()
a = asyncio.run(run(10_000, srv)); rss_small = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
b = asyncio.run(run(100_000, srv)); rss_big = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(a, b, rss_small // 1024, rss_big // 1024)
"""


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_samples(tmp_path):
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "r.jsonl")], capture_output=True,
                         text=True, timeout=900, check=True).stdout.split()
    small_n, big_n, rss_small_mb, rss_big_mb = map(int, out)
    assert (small_n, big_n) == (10_000, 100_000)
    assert rss_big_mb - rss_small_mb < 50, (rss_small_mb, rss_big_mb)
    lines = sum(1 for _ in open(tmp_path / "r.jsonl"))
    assert lines == 100_000
    json.loads(open(tmp_path / "r.jsonl").readline())


def test_read_results_keys_survive_hostile_sample_ids(tmp_path):
    """read_results finds each line's key from its head; an id that spells the marker must not fool it."""
    from rm_gallery.results_io import ResultsWriter

    out = tmp_path / "r.jsonl"
    writer = ResultsWriter(out, append=False)
    hostile = 'x,"result":{"kind": "score"}'
    writer.write(0, hostile, "pref", GraderError(kind="api_error", message="down"))
    writer.write(1, "plain", "pref", Score(value=1.0, scale=(0, 1)))
    writer.write(0, hostile, "pref", Score(value=0.5, scale=(0, 1)))      # supersedes the first line
    writer.close()
    recs = list(read_results(out))
    assert [(r["index"], r["sample_id"], r["result"].kind) for r in recs] == [(1, "plain", "score"),
                                                                               (0, hostile, "score")]
    assert recs[1]["result"].value == 0.5

"""The HTTP client against the stub server: passthrough, retries, Retry-After, pool, limits, secrets."""

import asyncio
import socket
import time

import pytest

from rm_gallery.client import (
    EndpointUnreachable,
    ModelAPIError,
    ModelRequestRejected,
    ModelTimeoutError,
    OpenAIChatModel,
    RetryPolicy,
)
from rm_gallery.client.transport import parse_retry_after
from rm_gallery.testing.stub_server import StubServer

MSGS = [{"role": "system", "content": "judge"}, {"role": "user", "content": "hi"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("transport", ["auto", "http11", "aiohttp", "openai"])
async def test_sampling_parameters_pass_through_untouched(stub, make_model, transport):
    model = make_model(stub.base_url, transport=transport)
    params = dict(temperature=0.7, max_tokens=33, n=3, seed=11, stop=["</x>"], logprobs=True, top_logprobs=2,
                  extra_body={"structured_outputs": {"choice": ["A", "B"]}, "top_k": 5})
    c = await model.complete(MSGS, **params)
    sent = stub.requests[-1]
    for k in ("temperature", "max_tokens", "n", "seed", "stop", "logprobs", "top_logprobs"):
        assert sent[k] == params[k], k
    assert sent["structured_outputs"] == {"choice": ["A", "B"]} and sent["top_k"] == 5
    assert "extra_body" not in sent and sent["messages"] == MSGS and sent["model"] == "stub-judge"
    assert len(c.choices) == 3
    lp = c.choices[0].logprobs
    assert lp is not None and lp[0].top and lp[0].top_probs()[lp[0].token] == pytest.approx(0.905, abs=1e-3)
    assert c.usage.prompt_tokens > 0


async def test_extra_body_survives_a_retry(make_model):
    async with StubServer(plan=["http_500"], record=True) as srv:
        model = make_model(srv.base_url)
        await model.complete(MSGS, extra_body={"structured_outputs": {"choice": ["A"]}})
        assert [r.get("structured_outputs") for r in srv.requests] == [{"choice": ["A"]}] * 2


async def test_reasoning_content_is_captured(make_model):
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "[[B]]",
                                                  "reasoning_content": "B is right"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    async with StubServer(lambda req: body) as srv:
        c = await make_model(srv.base_url).complete(MSGS)
    assert c.text == "[[B]]" and c.choices[0].reasoning == "B is right"


async def test_retry_then_success_counts_retries(make_model):
    async with StubServer(plan=["http_500", "reset", "non_json", "empty_choices"]) as srv:
        model = make_model(srv.base_url, retry=RetryPolicy(max_retries=5, base=0.01, max_backoff=0.02))
        c = await model.complete(MSGS)
    assert "<preference>A</preference>" in c.text
    assert srv.counts["requests"] == 5 and model.stats.retries == 4


async def test_retry_after_is_honoured(make_model):
    async with StubServer(plan=["http_429"]) as srv:
        srv.faults.retry_after = 0.4
        model = make_model(srv.base_url, retry=RetryPolicy(max_retries=2, base=0.001, max_backoff=0.001))
        t0 = time.perf_counter()
        await model.complete(MSGS)
        assert time.perf_counter() - t0 >= 0.39
        assert model.stats.retry_wait_s >= 0.4


def test_parse_retry_after_forms():
    assert parse_retry_after("2.5") == 2.5 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") <= 0.0  # a date in the past means now


async def test_retries_are_bounded_and_error_is_typed(make_model):
    async with StubServer(plan=["http_500"] * 10) as srv:
        model = make_model(srv.base_url, retry=RetryPolicy(max_retries=2, base=0.001))
        with pytest.raises(ModelAPIError, match="HTTP 500.*after 3 attempts") as e:
            await model.complete(MSGS)
    assert e.value.status == 500 and srv.counts["requests"] == 3


async def test_empty_choices_are_retried_then_reported(make_model):
    async with StubServer(lambda req: {"choices": []}) as srv:
        model = make_model(srv.base_url)
        with pytest.raises(ModelAPIError, match="empty 'choices'"):
            await model.complete(MSGS)
        assert srv.counts["requests"] == 4  # 1 + max_retries=3


async def test_client_errors_are_not_retried(make_model):
    async with StubServer() as srv:
        model = make_model(srv.base_url.replace("/v1", "/nope"))
        with pytest.raises(ModelAPIError, match="HTTP 404") as e:
            await model.complete(MSGS)
        assert srv.counts["not_found"] == 1 and e.value.status == 404


@pytest.mark.parametrize("transport", ["http11", "aiohttp", "openai"])
@pytest.mark.parametrize("status", [400, 413, 422])
async def test_rejected_requests_are_invalid_input_and_not_retried(make_model, transport, status):
    """A request the server refuses (e.g. longer than the context) is the sample's fault, not the server's."""
    async with StubServer(plan=["http_500"]) as srv:
        srv.faults.server_errors = (status,)
        model = make_model(srv.base_url, transport=transport)
        with pytest.raises(ModelRequestRejected, match=f"HTTP {status} .*rejected") as e:
            await model.complete(MSGS)
    assert e.value.kind == "invalid_input" and e.value.status == status and srv.counts["requests"] == 1


async def test_timeout_becomes_timeout_error(make_model):
    async with StubServer(plan=["timeout", "timeout"]) as srv:
        srv.faults.timeout_delay = 2.0
        model = make_model(srv.base_url, timeout=0.2, retry=RetryPolicy(max_retries=1, base=0.001))
        with pytest.raises(ModelTimeoutError) as e:
            await model.complete(MSGS)
    assert e.value.kind == "timeout"


async def test_pool_routes_around_a_dead_replica_and_spreads_load(make_model):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    async with StubServer(latency=0.01) as a, StubServer(latency=0.01) as b:
        model = make_model([a.base_url, dead, b.base_url], retry=RetryPolicy(max_retries=4, base=0.001))
        results = await asyncio.gather(*(model.complete(MSGS) for _ in range(60)))
    assert len(results) == 60
    assert a.counts["requests"] + b.counts["requests"] == 60
    assert min(a.counts["requests"], b.counts["requests"]) >= 15
    dead_ep = next(e for e in model.pool.endpoints if e.base_url == dead)
    assert dead_ep.served == 0 and dead_ep.failures >= 1


async def test_per_endpoint_cap_and_in_flight_limit(make_model):
    async with StubServer(latency=0.02) as srv:
        model = make_model(srv.base_url, max_in_flight=5)
        await asyncio.gather(*(model.complete(MSGS) for _ in range(40)))
        assert srv.max_in_flight <= 5
    async with StubServer(latency=0.02) as srv:
        model = make_model(srv.base_url, max_in_flight_per_endpoint=3)
        await asyncio.gather(*(model.complete(MSGS) for _ in range(30)))
        assert srv.max_in_flight <= 3


async def test_requests_per_second_limit(make_model):
    async with StubServer() as srv:
        model = make_model(srv.base_url, requests_per_second=40)
        t0 = time.perf_counter()
        await asyncio.gather(*(model.complete(MSGS) for _ in range(60)))
        assert time.perf_counter() - t0 >= 0.45  # 60 requests at 40/s cannot finish in the first second's burst


async def test_unreachable_endpoint_is_one_clear_error(make_model):
    model = make_model(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(EndpointUnreachable, match="cannot reach http://127.0.0.1"):
        await model.check_reachable(timeout=1)


async def test_api_key_never_appears_in_errors_or_repr(make_model, monkeypatch):
    key = "sk-test-SECRET-1234567890"
    async with StubServer(lambda req: {"error": {"message": f"bad key {key}"}}) as srv:
        model = make_model(srv.base_url, api_key=key)
        with pytest.raises(ModelAPIError) as e:
            await model.complete(MSGS)
    assert key not in str(e.value) and key not in repr(model) and key not in model.cache_identity
    monkeypatch.setenv("OPENAI_API_KEY", key)
    assert key not in repr(OpenAIChatModel("m", base_url="http://x/v1"))


def test_is_local_needs_a_model_folder():
    with pytest.raises(ValueError, match="is not a model folder"):
        OpenAIChatModel("./ckpt", is_local=True)


async def test_busy_healthy_replicas_are_waited_for_not_the_dead_one(make_model):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    async with StubServer(latency=0.03) as a, StubServer(latency=0.03) as b:
        model = make_model([dead, a.base_url, b.base_url], max_in_flight_per_endpoint=2,
                           retry=RetryPolicy(max_retries=3, base=0.5, max_backoff=0.5))
        t0 = time.perf_counter()
        await asyncio.gather(*(model.complete(MSGS) for _ in range(40)))
        elapsed = time.perf_counter() - t0
    dead_ep = next(e for e in model.pool.endpoints if e.base_url == dead)
    assert dead_ep.failures <= 2  # benched after its first failures, never chosen again while others are busy
    assert a.max_in_flight <= 2 and b.max_in_flight <= 2
    assert elapsed < 2.0  # failover is immediate: no 0.5 s backoffs


def test_pool_waits_when_healthy_replicas_are_at_their_cap():
    from rm_gallery.client.pool import EndpointPool

    pool = EndpointPool(["http://a", "http://b"], per_endpoint_limit=1)
    pool.endpoints[0].in_flight = 1                      # a: healthy but busy
    pool.endpoints[1].down_until = time.monotonic() + 60  # b: benched
    assert pool._pick() is None
    pool.endpoints[0].down_until = time.monotonic() + 30
    assert pool._pick() is pool.endpoints[1]              # all benched: one with a free slot is tried


def test_pool_keeps_to_preferred_replicas_and_fails_over_when_they_are_benched():
    from rm_gallery.client.pool import EndpointPool

    pool = EndpointPool(["http://a", "http://b", "http://c"], prefer=["http://b"])
    b = pool.endpoints[1]
    assert {pool._pick().base_url for _ in range(10)} == {"http://b"}  # idle a and c are not used
    b.down_until = time.monotonic() + 60  # b benched: the others serve meanwhile
    assert {pool._pick().base_url for _ in range(10)} == {"http://a", "http://c"}
    b.down_until = 0.0  # b is back: traffic returns to it
    assert pool._pick() is b
    with pytest.raises(ValueError, match="among the base_urls"):
        EndpointPool(["http://a"], prefer=["http://z"])


async def test_preferred_endpoints_keep_one_cache_identity(make_model):
    whole = make_model(["http://a/v1", "http://b/v1"])
    share = make_model(["http://a/v1", "http://b/v1"], prefer_endpoints=["http://b/v1"])
    assert share.cache_identity == whole.cache_identity  # the same answers, so the same cache entries

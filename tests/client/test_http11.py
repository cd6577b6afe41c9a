"""The lean HTTP/1.1 transport against a raw socket server that sends exactly the bytes each test scripts."""

import asyncio
import gzip
import json

import pytest

from rm_gallery.client import ModelAPIError, ModelTimeoutError
from rm_gallery.client.http11 import HTTP11Transport

BODY = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "<preference>A</preference>"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
RAW = json.dumps(BODY).encode()


def ok(body: bytes = RAW, extra: str = "") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


class RawServer:
    """Answers each request (read up to its Content-Length) with the next scripted reply (bytes, or a callable)."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.connections = 0
        self.requests: list[bytes] = []

    async def _handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                reply = self.replies.pop(0) if self.replies else ok()
                if callable(reply):
                    await reply(writer)
                    if writer.is_closing():
                        return
                    continue
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"
        return self

    async def __aexit__(self, *exc):
        self.server.close()


PAYLOAD = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "extra_body": {"top_k": 3}}


async def test_keep_alive_reuses_one_connection_and_sends_headers():
    async with RawServer([]) as srv:
        t = HTTP11Transport("sk-key", headers={"X-Trace": "1"})
        for _ in range(5):
            assert (await t.chat(srv.url, PAYLOAD, 5))["usage"]["prompt_tokens"] == 3
        await t.aclose()
    assert srv.connections == 1 and len(srv.requests) == 5
    head, _, body = srv.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"Authorization: Bearer sk-key" in head and b"X-Trace: 1" in head
    assert json.loads(body) == {"model": "m", "messages": PAYLOAD["messages"], "top_k": 3}


async def test_chunked_gzip_interim_and_close_delimited_bodies():
    async def close_delimited(writer):  # no length: the body ends when the socket does
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + RAW)
        await writer.drain()
        writer.close()

    gz = gzip.compress(RAW)
    chunked = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in (gz[:7], gz[7:30], gz[30:]))
    replies = [
        b"HTTP/1.1 100 Continue\r\n\r\n" + ok(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n" + chunked
        + b"0\r\nX-Trailer: t\r\n\r\n",
        close_delimited,
        ok(),
    ]
    async with RawServer(replies) as srv:
        t = HTTP11Transport(None)
        for _ in range(4):
            assert (await t.chat(srv.url, PAYLOAD, 5))["choices"][0]["message"]["content"].startswith("<pref")
        await t.aclose()
    assert srv.connections == 2  # the close-delimited reply ended its connection; a new one was opened


async def test_bytes_arriving_one_at_a_time():
    async def trickle(writer):
        for b in ok():
            writer.write(bytes([b]))
            await writer.drain()

    async with RawServer([trickle]) as srv:
        t = HTTP11Transport(None)
        assert (await t.chat(srv.url, PAYLOAD, 5))["usage"]["completion_tokens"] == 2
        await t.aclose()


async def test_large_body():
    big = {"choices": [{"message": {"content": "x" * 3_000_000}}]}
    async with RawServer([ok(json.dumps(big).encode())]) as srv:
        t = HTTP11Transport(None)
        assert len((await t.chat(srv.url, PAYLOAD, 10))["choices"][0]["message"]["content"]) == 3_000_000
        await t.aclose()


async def test_status_errors_carry_retry_after():
    body = b'{"error": {"message": "slow down"}}'
    reply = f"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    async with RawServer([reply]) as srv:
        t = HTTP11Transport(None)
        with pytest.raises(ModelAPIError, match="HTTP 429.*slow down") as e:
            await t.chat(srv.url, PAYLOAD, 5)
        assert e.value.retryable and e.value.retry_after == 7
        await t.aclose()


@pytest.mark.parametrize("reply, match", [
    (b"garbage\r\n\r\n", "unreadable HTTP response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "connection"),  # closed mid-body
    (ok(b"<html>oops</html>"), "not JSON"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 70_000 + b"\r\n\r\n", "too large"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "unreadable"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "unreadable"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc", "unreadable"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\nabc", "unreadable"),
])
async def test_broken_responses_are_retryable_api_errors(reply, match):
    async def send_and_close(writer):
        writer.write(reply)
        await writer.drain()
        writer.close()

    async with RawServer([send_and_close]) as srv:
        t = HTTP11Transport(None)
        with pytest.raises(ModelAPIError, match=match) as e:
            await t.chat(srv.url, PAYLOAD, 5)
        assert e.value.retryable
        await t.aclose()


async def test_timeout_and_a_server_that_closes_idle_connections():
    async def stall(writer):
        await asyncio.sleep(2)

    async def reply_then_close(writer):
        writer.write(ok())
        await writer.drain()
        writer.close()

    async with RawServer([reply_then_close, stall]) as srv:
        t = HTTP11Transport(None)
        await t.chat(srv.url, PAYLOAD, 5)
        await asyncio.sleep(0.05)  # the server's FIN arrives; the idle connection is marked closed, not reused
        with pytest.raises(ModelTimeoutError):
            await t.chat(srv.url, PAYLOAD, 0.2)
        assert srv.connections == 2
        await t.aclose()


async def test_cancellation_never_returns_a_connection_to_the_pool():
    async def stall(writer):
        await asyncio.sleep(1)
        writer.write(ok())

    async with RawServer([stall]) as srv:
        t = HTTP11Transport(None)
        task = asyncio.ensure_future(t.chat(srv.url, PAYLOAD, 5))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await t.chat(srv.url, PAYLOAD, 5))["usage"]["prompt_tokens"] == 3  # a fresh connection
        assert srv.connections == 2
        await t.aclose()


async def test_refused_connection_is_retryable():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = HTTP11Transport(None)
    with pytest.raises(ModelAPIError, match="connection to .* failed") as e:
        await t.chat(f"http://127.0.0.1:{port}/v1", PAYLOAD, 2)
    assert e.value.retryable
    assert (await _status(t, port)) is None


async def _status(t, port):
    try:
        return await t.get(f"http://127.0.0.1:{port}/v1", "/models", 1)
    except ModelAPIError:
        return None


async def test_connection_close_and_http10_responses_are_not_reused():
    close = ok(extra="Connection: close\r\n")
    http10 = ok().replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    async with RawServer([close, http10, ok(), ok()]) as srv:
        t = HTTP11Transport(None)
        for _ in range(4):
            assert (await t.chat(srv.url, PAYLOAD, 5))["usage"]["prompt_tokens"] == 3
        await t.aclose()
    assert srv.connections == 3  # a new connection after each of the first two, then keep-alive


async def test_a_chunk_size_line_split_across_reads():
    body = b"7\r\n" + RAW[:7] + b"\r\n" + f"{len(RAW) - 7:x}".encode() + b"\r\n" + RAW[7:] + b"\r\n0\r\n\r\n"
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body

    async def in_pieces(writer):
        for i in range(0, len(reply), 5):
            writer.write(reply[i:i + 5])
            await writer.drain()
            await asyncio.sleep(0)

    async with RawServer([in_pieces, ok()]) as srv:
        t = HTTP11Transport(None)
        assert (await t.chat(srv.url, PAYLOAD, 5)) == BODY
        assert (await t.chat(srv.url, PAYLOAD, 5)) == BODY  # the same connection, after a chunked response
        await t.aclose()
    assert srv.connections == 1

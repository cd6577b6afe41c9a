"""A small HTTP/1.1 client on asyncio Protocols: the fast transport for local inference servers.

Judging is thousands of small JSON POSTs to one host. A general client (aiohttp, httpx) spends most of its ~150 µs
per request on features this path never uses; this transport spends ~30 µs: one pooled keep-alive connection per in-
flight request, a prebuilt header block, and responses parsed incrementally by llhttp (the parser of Node.js and
uvicorn, through ``httptools``): ``Content-Length``, ``chunked`` and read-until-close bodies, ``gzip``/``deflate``
encodings, 1xx interim responses, TLS (``https://`` via :mod:`ssl`) and per-request timeouts. A connection the
server closed while idle is noticed (``connection_lost``) and never reused; any failure mid-request surfaces as a
ModelError so the client's retry policy, not this layer, decides what happens next (and counts it).

It deliberately does not do proxies, redirects, cookies or HTTP/2: OpenAI-compatible chat endpoints need none
of them. ``transport="aiohttp"`` (or ``"openai"``) remains available for anything that does.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools

from rm_gallery.client.errors import ModelAPIError, ModelTimeoutError
from rm_gallery.client.transport import _dumps, json_object, parse_retry_after, status_error

MAX_HEAD = 64 * 1024
USER_AGENT = "rm-gallery/0.2"


class _ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.1 we can read."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """A parsed base URL: where to connect and the path prefix requests go under."""

    host: str
    port: int
    tls: bool
    prefix: str
    host_header: str

    @classmethod
    def parse(cls, base_url: str) -> _Endpoint:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        tls = u.scheme == "https"
        port = u.port or (443 if tls else 80)
        default = (tls and port == 443) or (not tls and port == 80)
        host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
        return cls(u.hostname, port, tls, u.path.rstrip("/"), host if default else f"{host}:{port}")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time; responses parsed by llhttp (``httptools``).

    The parser reports a response through the callbacks below; this class only collects headers and
    body, decodes ``Content-Encoding`` and decides whether the connection can be reused.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False
        self._fut: asyncio.Future[Response] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._reset_parser()

    def _reset_parser(self) -> None:
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._head_bytes = 0  # bytes received before the header block ended (bounded by MAX_HEAD)
        self._header_bytes = 0
        self._in_head = True
        self._until_close = False  # a body with neither Content-Length nor chunked: it ends with the connection

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        fut = self._fut
        if fut is None or fut.done():
            return
        if self._until_close:  # a body delimited by the end of the connection
            try:
                self._finish()
            except zlib.error as e:
                fut.set_exception(_protocol_error(e))
        else:
            fut.set_exception(ConnectionResetError(f"connection closed by the server ({exc or 'EOF'})"))

    def data_received(self, data: bytes) -> None:
        if self._fut is None or self._fut.done():
            self.closed = True  # unsolicited bytes: this connection is not reusable
            if self.transport is not None:
                self.transport.close()
            return
        try:
            self._parser.feed_data(data)
            if self._in_head:  # still no end of the header block: llhttp would wait for it without limit
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD:
                    raise _ProtocolError("response header block is too large")
        except (_ProtocolError, httptools.HttpParserError, ValueError, zlib.error) as e:
            self.closed = True
            if not self._fut.done():
                self._fut.set_exception(_protocol_error(e))
            if self.transport is not None:
                self.transport.abort()

    # -- parser callbacks (httptools) -----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1").strip()

    def on_headers_complete(self) -> None:
        if self._header_bytes > MAX_HEAD:
            raise _ProtocolError("response header block is too large")
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # interim response (e.g. 100 Continue): the real one follows
            self._headers = {}
            return
        self._in_head = False
        h = self._headers
        self._until_close = ("content-length" not in h and "chunked" not in h.get("transfer-encoding", "").lower()
                             and status not in (204, 304))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._in_head:  # the end of an interim response
            return
        self._finish()

    def _finish(self) -> None:
        body = b"".join(self._body)
        encoding = self._headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        if self._until_close or not self._parser.should_keep_alive():
            self.closed = True
        resp = Response(self._parser.get_status_code(), self._headers, body)
        fut = self._fut
        self._reset_parser()
        if fut is not None and not fut.done():
            fut.set_result(resp)

    # -- requests -----------------------------------------------------------------------------------

    def send(self, data: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._fut = loop.create_future()
        self._reset_parser()
        self.used = True
        self.transport.write(data)
        return self._fut


def _protocol_error(e: Exception) -> _ProtocolError:
    """The error to report: ours when a callback raised it, else llhttp's own words (e.g. ``Expected HTTP/``)."""
    if isinstance(e, _ProtocolError):
        return e
    if isinstance(e.__context__, (_ProtocolError, ValueError, zlib.error)):  # raised inside a parser callback
        return _protocol_error(e.__context__)
    return _ProtocolError(str(e) or type(e).__name__)


class HTTP11Transport:
    """The :class:`~rm_gallery.client.transport.Transport` interface over :class:`_Connection` pools."""

    def __init__(self, api_key: str | None, *, headers: Mapping[str, str] | None = None) -> None:
        extra = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT,
                 **(headers or {})}
        if api_key:
            extra["Authorization"] = f"Bearer {api_key}"
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        self._endpoints: dict[str, _Endpoint] = {}
        self._idle: dict[_Endpoint, list[_Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ssl: ssl.SSLContext | None = None

    def _endpoint(self, base_url: str) -> _Endpoint:
        ep = self._endpoints.get(base_url)
        if ep is None:
            ep = self._endpoints[base_url] = _Endpoint.parse(base_url)
        return ep

    async def _connect(self, ep: _Endpoint, loop: asyncio.AbstractEventLoop) -> _Connection:
        if ep.tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        _, conn = await loop.create_connection(_Connection, ep.host, ep.port, ssl=self._ssl if ep.tls else None)
        return conn

    async def _roundtrip(self, ep: _Endpoint, request: bytes, timeout: float, base_url: str) -> Response:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # connections belong to the loop that opened them
            self._idle, self._loop = {}, loop
        idle = self._idle.setdefault(ep, [])
        conn = None
        while idle and conn is None:  # idle connections the server has closed were marked by connection_lost
            c = idle.pop()
            conn = None if c.closed else c
        try:
            if conn is None:
                conn = await asyncio.wait_for(self._connect(ep, loop), timeout)
            fut = conn.send(request, loop)
            timer = loop.call_later(timeout, _expire, fut)
            try:
                resp = await fut
            finally:
                timer.cancel()
        except asyncio.TimeoutError:
            _drop(conn)
            raise ModelTimeoutError(f"no answer from {base_url} within {timeout:g}s", retryable=True,
                                    endpoint=base_url) from None
        except (ConnectionError, OSError) as e:  # refused, reset, closed mid-response: the retry policy decides
            _drop(conn)
            raise ModelAPIError(f"connection to {base_url} failed: {type(e).__name__}: {e}", retryable=True,
                                endpoint=base_url) from None
        except _ProtocolError as e:
            _drop(conn)
            raise ModelAPIError(f"{base_url} sent an unreadable HTTP response: {e}", retryable=True,
                                endpoint=base_url) from None
        except BaseException:  # cancelled mid-request: the connection's state is unknown, never reuse it
            _drop(conn)
            raise
        if not conn.closed:
            idle.append(conn)
        return resp

    def _request(self, method: str, ep: _Endpoint, path: str, body: bytes | None) -> bytes:
        head = f"{method} {ep.prefix}{path} HTTP/1.1\r\nHost: {ep.host_header}\r\n{self._fixed}"
        if body is None:
            return (head + "\r\n").encode("latin-1")
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body

    async def chat(self, base_url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        extra = payload.get("extra_body")
        if extra is not None:  # the wire format has vLLM extensions at the top level
            payload = {**{k: v for k, v in payload.items() if k != "extra_body"}, **extra}
        ep = self._endpoint(base_url)
        resp = await self._roundtrip(ep, self._request("POST", ep, "/chat/completions", _dumps(payload)), timeout,
                                     base_url)
        if resp.status >= 400:
            raise status_error(resp.status, resp.body, parse_retry_after(resp.headers.get("retry-after")), base_url)
        return json_object(resp.body, base_url)

    async def get(self, base_url: str, path: str, timeout: float) -> int:
        ep = self._endpoint(base_url)
        try:
            resp = await self._roundtrip(ep, self._request("GET", ep, path, None), timeout, base_url)
        except ModelAPIError as e:
            raise type(e)(f"cannot reach {base_url}: {e}", endpoint=base_url) from None
        return resp.status

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                _drop(c)
        self._idle.clear()


def _expire(fut: asyncio.Future[Response]) -> None:
    if not fut.done():
        fut.set_exception(asyncio.TimeoutError())


def _drop(conn: _Connection | None) -> None:
    if conn is not None:
        conn.closed = True
        if conn.transport is not None:
            conn.transport.abort()

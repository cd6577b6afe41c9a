"""Exceptions raised by model clients; the runner turns them into typed GraderErrors."""

from __future__ import annotations


class ModelError(Exception):
    """Base class for failures talking to a model endpoint."""

    #: The GraderError kind this failure becomes.
    kind = "api_error"

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.endpoint = endpoint


class ModelAPIError(ModelError):
    """An HTTP error status, a connection failure or an unusable response body."""


class ModelRequestRejected(ModelAPIError):
    """The server refused this request as malformed (HTTP 400, 413, 422): a sample too long for the model's
    context, or a parameter the server does not accept. Not retried; the sample is the problem, not the server."""

    kind = "invalid_input"


class ModelTimeoutError(ModelError):
    """The request did not finish within the per-request timeout."""

    kind = "timeout"


class EndpointUnreachable(ModelAPIError):
    """No endpoint of the model accepted a connection."""


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Remove secrets (API keys) from a message before it can reach a result, a log or a traceback.

    A key cut short by a length limit (an error body excerpt, a snippet of a non-JSON body) is removed too:
    any run of 8 or more characters that begins like the key.
    """
    for s in secrets:
        if not s or len(s) < 4:
            continue
        text = text.replace(s, "***")
        head = s[:8]
        if len(s) <= len(head) or head not in text:
            continue
        out, start = [], 0
        while (at := text.find(head, start)) >= 0:
            end = at + len(head)
            while end - at < len(s) and end < len(text) and text[end] == s[end - at]:
                end += 1
            out += [text[start:at], "***"]
            start = end
        text = "".join(out) + text[start:]
    return text

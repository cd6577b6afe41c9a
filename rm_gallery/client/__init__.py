"""Model clients: the one place that talks HTTP (retries, backoff, rate limits, timeouts, endpoint pool)."""

from rm_gallery.client.completion import Choice, Completion, MalformedResponse, TokenLogprob
from rm_gallery.client.errors import (
    EndpointUnreachable,
    ModelAPIError,
    ModelError,
    ModelRequestRejected,
    ModelTimeoutError,
)
from rm_gallery.client.model import (
    ChatModel,
    ClientStats,
    OpenAIChatModel,
    RetryPolicy,
    SystemRolePolicy,
    apply_system_policy,
)

__all__ = [
    "ChatModel",
    "Choice",
    "ClientStats",
    "Completion",
    "EndpointUnreachable",
    "MalformedResponse",
    "ModelAPIError",
    "ModelError",
    "ModelRequestRejected",
    "ModelTimeoutError",
    "OpenAIChatModel",
    "RetryPolicy",
    "SystemRolePolicy",
    "TokenLogprob",
    "apply_system_policy",
]

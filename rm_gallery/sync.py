"""The one way library code offers a synchronous entry point: run a coroutine, never inside a running loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], *, what: str, instead: str) -> T:
    """``asyncio.run(coro)`` for scripts and notebooks without a loop; inside a running event loop (Jupyter, an
    async app) it refuses with a message naming ``what`` was called and the awaitable to use ``instead``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError(f"{what} was called inside a running event loop (e.g. Jupyter or an async app); "
                       f"use `{instead}` there instead")

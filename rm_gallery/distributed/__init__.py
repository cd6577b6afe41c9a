"""Distributed grading on Ray (extra ``[ray]``): ``rm-gallery grade --ray`` and :func:`grade_on_ray`.

Importing this package does not import Ray; :mod:`.shards` (plans, part files, reading results back) needs only
pyarrow, so a sharded output is read anywhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["grade_on_ray"]


def grade_on_ray(*args: Any, **kwargs: Any) -> Any:
    """See :func:`rm_gallery.distributed.ray_job.grade_on_ray` (imported on first use: Ray is heavy)."""
    try:
        from rm_gallery.distributed.ray_job import grade_on_ray as run
    except ImportError as e:
        if e.name in ("ray", "pyarrow") or (e.name or "").startswith("ray."):
            raise ImportError("distributed grading needs Ray Data: pip install 'rm_gallery[ray]'") from e
        raise
    return run(*args, **kwargs)

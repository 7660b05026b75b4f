"""The OMS settings without ReleaseRenderedResponseMiddleware: bench/cursor_paging.py's baseline
of the code before docs/benchmarks.md §45 (with OMS_GC_FREEZE=0)."""

from oms.settings import *  # noqa: F403
from oms.settings import MIDDLEWARE

MIDDLEWARE = [m for m in MIDDLEWARE if not m.endswith(".ReleaseRenderedResponseMiddleware")]

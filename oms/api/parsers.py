"""The command body parser: JSON only (the contract), and a too-deeply nested body is a 400.

Without a bound, a body nested a few hundred levels deep parses but then overflows the stack
later (hashing, storing the command in its event): a 500 instead of a 400.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def _too_deep(data: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children)
    return False


class CommandJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:  # json raises it (not ValueError) for very deeply nested input
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep") from None
        if _too_deep(data):
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep")
        return data

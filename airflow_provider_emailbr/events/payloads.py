"""Reading a webhook body: bytes to a JSON object, with the size and nesting caps every vendor shares.

One place for the rule, used by every vendor's parser and by the webhook receiver, so that an oversized or
deeply nested body is refused the same way whoever sent it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_emailbr.exceptions import EmailBRInputError

MAX_BODY_BYTES = 256 * 1024
"""Largest webhook body accepted (bytes); a delivery event is well under 4 KiB."""

MAX_JSON_DEPTH = 16
"""Deepest nesting of objects and lists accepted in a webhook body (envie's deepest is 3)."""


class BodyTooLargeError(EmailBRInputError):
    """A webhook body larger than the cap (the receiver answers 413)."""


def load_json_body(
    body: Mapping[str, Any] | list[Any] | str | bytes,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """The JSON value of a webhook body, refused with a clear error when too large, too deep or not JSON.

    An already decoded mapping or list is only checked for depth.
    """
    if isinstance(body, (str, bytes)):
        size = len(body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body)
        if size > max_bytes:
            raise BodyTooLargeError(f"webhook body is {size} bytes; at most {max_bytes} are accepted")
        try:
            body = json.loads(body)
        except (ValueError, RecursionError) as err:
            reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)[:200]
            raise EmailBRInputError(f"webhook body is not JSON: {reason}") from None
    check_depth(body, max_depth)
    return body


def check_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse ``value`` when objects and lists nest deeper than ``max_depth`` (iterative, no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise EmailBRInputError(f"webhook body nests deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


def json_object(value: Any, what: str = "webhook body") -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an error naming what it was."""
    if not isinstance(value, Mapping):
        raise EmailBRInputError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value

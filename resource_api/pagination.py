"""Keyset pagination with an opaque cursor (no OFFSET: every page costs the same)."""

import base64
import binascii
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Protocol, TypeVar

from litestar.params import QueryParameter
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Mapped

from resource_api.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_PREFIX = b"k1"  # format version of the cursor

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, QueryParameter(max_length=64)]


class _Keyed(Protocol):
    id: uuid.UUID


K = TypeVar("K", bound=_Keyed)
Q = TypeVar("Q", bound=Select[Any])


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(_PREFIX + last_id.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> uuid.UUID | None:
    """The key after which the page starts. Raises `BadRequest` for a cursor we did not make."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != len(_PREFIX) + 16 or not raw.startswith(_PREFIX):
        raise BadRequest("cursor: not a cursor returned by this API")
    return uuid.UUID(bytes=raw[len(_PREFIX) :])


def page(rows: Sequence[K], limit: int) -> tuple[list[K], str | None]:
    """Split `limit + 1` fetched rows into the page and the cursor of the next one."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return items, encode_cursor(items[-1].id) if more and items else None


def keyset(
    query: Q, key: ColumnElement[uuid.UUID] | Mapped[uuid.UUID], after: uuid.UUID | None, limit: int
) -> Q:
    """`query` ordered by `key`, cut to `limit` rows, starting after the key `after` (if any)."""
    query = query.order_by(key).limit(limit)
    if after is not None:
        query = query.where(key > after)
    return query

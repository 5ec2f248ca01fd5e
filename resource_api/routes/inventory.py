"""Inventory rows: under /products/{id}/inventory and at /inventory/{id}.

`PATCH /inventory/{id}` is a conditional write: the UPDATE itself carries `WHERE version
= ?` (the version the permission check saw) and the actor's write permission as of the
statement, so a row unshared, or a member removed from the household, between check and
write is never written (`access.update_inventory`). With If-Match (RFC 9110 §13.1.1), of
several writers holding one ETag exactly one wins and the others get 412.
"""

import re
import uuid
from typing import Annotated, Any

from litestar import Response, Router, delete, get, patch, post
from litestar.params import FromPath, HeaderParameter, JSONBody

from resource_api import access
from resource_api.dependencies import Me, Session
from resource_api.errors import Conflict, PreconditionFailed, error_responses
from resource_api.guards import readers, users
from resource_api.identity import with_current_household
from resource_api.models import (
    Inventory,
    InventoryCreate,
    InventoryList,
    InventoryPublic,
    InventoryUpdate,
)
from resource_api.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, page

#: a write whose condition failed is checked and tried once more, then 409
WRITE_ATTEMPTS = 2
IfMatch = Annotated[str | None, HeaderParameter(name="If-Match", max_length=1024)]


#: the only entity-tags this API makes: a quoted decimal version, at most 18 digits (fits
#: a 64-bit integer); `str.isdigit` would also accept "²", which `int()` refuses
_ENTITY_TAG = re.compile(r'"([0-9]{1,18})"')


def etag(row: Inventory) -> str:
    return f'"{row.version}"'


def _with_etag(row: Inventory, status_code: int = 200) -> Response[InventoryPublic]:
    return Response(
        InventoryPublic.model_validate(row), status_code=status_code, headers={"ETag": etag(row)}
    )


def if_match_allows(if_match: str | None, current: str) -> bool:
    """Whether an If-Match header lets a write go ahead on a row whose ETag is `current`.

    RFC 9110 §13.1.1: `*` matches any current representation; otherwise one listed
    entity-tag must equal `current` by the strong comparison (neither weak, the opaque
    tags identical character by character: `"01"` is not `"1"`). Our tags are only ASCII
    digits, so no listed tag that could match contains a comma.
    """
    if if_match is None:
        return True
    value = if_match.strip()
    if value == "*":
        return True
    for tag in value.split(","):
        match = _ENTITY_TAG.fullmatch(tag.strip())
        if match is not None and match.group(0) == current:
            return True
    return False


@get("/products/{product_id:str}/inventory", guards=[readers], responses=error_responses(404))
async def list_inventory(
    db_session: Session,
    actor: Me,
    product_id: FromPath[uuid.UUID],
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> InventoryList:
    rows = await access.list_inventory(
        db_session, actor, product_id, decode_cursor(cursor), limit + 1
    )
    items, next_cursor = page(rows, limit)
    return InventoryList(items=[InventoryPublic.model_validate(r) for r in items], next=next_cursor)


@post(
    "/products/{product_id:str}/inventory",
    guards=[users],
    status_code=201,
    responses=error_responses(404, 409, 413),
)
async def create_inventory(
    db_session: Session, actor: Me, product_id: FromPath[uuid.UUID], data: JSONBody[InventoryCreate]
) -> Response[InventoryPublic]:
    product = await access.product_for_write(db_session, actor, product_id)
    # a row belongs to its product's owner, whoever (owner or admin) created it
    row = Inventory(product_id=product.id, owner_id=product.owner_id, **data.model_dump())
    db_session.add(row)
    await db_session.commit()
    return _with_etag(row, 201)


@get("/inventory/{inventory_id:str}", guards=[readers], responses=error_responses(404))
async def read_inventory(
    db_session: Session, actor: Me, inventory_id: FromPath[uuid.UUID]
) -> Response[InventoryPublic]:
    return _with_etag(await access.inventory_for_read(db_session, actor, inventory_id))


@patch(
    "/inventory/{inventory_id:str}",
    guards=[users],
    responses=error_responses(404, 409, 412, 413),
)
async def update_inventory(
    db_session: Session,
    actor: Me,
    inventory_id: FromPath[uuid.UUID],
    data: JSONBody[InventoryUpdate],
    if_match: IfMatch = None,
) -> Response[InventoryPublic]:
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for _ in range(WRITE_ATTEMPTS):
        row = await access.inventory_for_update(db_session, actor, inventory_id, changes.keys())
        if not if_match_allows(if_match, etag(row)):
            raise PreconditionFailed("If-Match does not match the current ETag")
        if not changes:  # nothing to write: the version (and ETag) stays
            return _with_etag(row)
        updated = await access.update_inventory(db_session, actor, row, changes)
        if updated is not None:
            await db_session.commit()
            return _with_etag(updated)
        # The row or the actor's household changed between the check and the write.
        # Look again: invisible now is 404, a stale If-Match 412, else write once more.
        await db_session.rollback()
        actor = await with_current_household(db_session, actor)
    raise Conflict("the row changed concurrently, retry")


@delete(
    "/inventory/{inventory_id:str}", guards=[users], status_code=204, responses=error_responses(404)
)
async def delete_inventory(
    db_session: Session, actor: Me, inventory_id: FromPath[uuid.UUID]
) -> None:
    row = await access.inventory_for_delete(db_session, actor, inventory_id)
    await db_session.delete(row)
    await db_session.commit()


router = Router(
    path="/",
    route_handlers=[
        list_inventory,
        create_inventory,
        read_inventory,
        update_inventory,
        delete_inventory,
    ],
    tags=["inventory"],
)

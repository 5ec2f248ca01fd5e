"""/products: the caller's (and household-shared) products."""

import uuid
from typing import Any

from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import delete as sql_delete
from sqlmodel import col

from resource_api import access
from resource_api.dependencies import Me, Session
from resource_api.errors import NotFound, error_responses
from resource_api.guards import readers, users
from resource_api.models import (
    Inventory,
    Product,
    ProductCreate,
    ProductPage,
    ProductPublic,
    ProductUpdate,
)
from resource_api.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, page


@get("/", guards=[readers], responses=error_responses())
async def list_products(
    db_session: Session, actor: Me, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> ProductPage:
    rows = await access.list_products(db_session, actor, decode_cursor(cursor), limit + 1)
    items, next_cursor = page(rows, limit)
    return ProductPage(
        items=[ProductPublic.model_validate(p) for p in items],
        next=next_cursor,
    )


@post("/", guards=[users], status_code=201, responses=error_responses(413))
async def create_product(
    db_session: Session, actor: Me, data: JSONBody[ProductCreate]
) -> ProductPublic:
    assert actor.user_id is not None  # the `users` guard
    product = Product(owner_id=actor.user_id, **data.model_dump())
    db_session.add(product)
    await db_session.commit()
    return ProductPublic.model_validate(product)


@get("/{product_id:str}", guards=[readers], responses=error_responses(404))
async def read_product(
    db_session: Session, actor: Me, product_id: FromPath[uuid.UUID]
) -> ProductPublic:
    product = await access.product_for_read(db_session, actor, product_id)
    return ProductPublic.model_validate(product)


@patch("/{product_id:str}", guards=[users], responses=error_responses(404, 413))
async def update_product(
    db_session: Session, actor: Me, product_id: FromPath[uuid.UUID], data: JSONBody[ProductUpdate]
) -> ProductPublic:
    product = await access.product_for_write(db_session, actor, product_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    updated = await access.update_product(db_session, actor, product, changes)
    if updated is None:  # deleted since the check
        await db_session.rollback()
        raise NotFound("product not found")
    await db_session.commit()
    return ProductPublic.model_validate(updated)


@delete("/{product_id:str}", guards=[users], status_code=204, responses=error_responses(404))
async def delete_product(db_session: Session, actor: Me, product_id: FromPath[uuid.UUID]) -> None:
    product = await access.product_for_write(db_session, actor, product_id)
    # explicit, so SQLite without foreign-key enforcement behaves like PostgreSQL
    await db_session.execute(sql_delete(Inventory).where(col(Inventory.product_id) == product.id))
    await db_session.delete(product)
    await db_session.commit()


router = Router(
    path="/products",
    route_handlers=[list_products, create_product, read_product, update_product, delete_product],
    tags=["products"],
)

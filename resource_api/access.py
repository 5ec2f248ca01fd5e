"""The one place that decides which rows an actor may read or change (STYLE rule 5).

Every query on an owned table (products, inventory) goes through these helpers; routes
never compare owners themselves. A row the actor cannot see is `NotFound` (no existence
leak); a row it can see but not change is `Forbidden`. Admin and service access is
explicit here, not a bypass somewhere else.

SPEC visibility: a user sees a product they own, or one with at least one
`is_household_shared` inventory row owned by a member of their household.
"""

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    and_,
    exists,
    false,
    or_,
    select,
    true,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col

from resource_api.db import is_postgres
from resource_api.errors import Forbidden, NotFound
from resource_api.identity import Actor
from resource_api.models import (
    MEMBER_INVENTORY_FIELDS,
    HouseholdMembership,
    Inventory,
    Product,
    utcnow,
)
from resource_api.pagination import keyset

_PRODUCT_COLUMNS = tuple(Product.__table__.columns)  # type: ignore[attr-defined]
_MEMBERSHIPS: Table = HouseholdMembership.__table__  # type: ignore[attr-defined]


def _household_members(actor: Actor) -> Select[uuid.UUID]:
    return select(col(HouseholdMembership.user_id)).where(
        col(HouseholdMembership.household_id) == actor.household_id
    )


def _shared_into(members: Select[Any]) -> ColumnElement[bool]:
    """Inventory rows shared into the household whose members `members` selects."""
    return and_(
        col(Inventory.is_household_shared) == true(),
        col(Inventory.owner_id).in_(members),
    )


def _shared_with(actor: Actor) -> ColumnElement[bool]:
    """Inventory rows shared into the actor's household."""
    if actor.household_id is None:
        return false()
    return _shared_into(_household_members(actor))


def _shared_with_now(actor: Actor) -> ColumnElement[bool]:
    """Like `_shared_with`, but with the actor's household as the database says at the
    time of the statement, not as it was when the request began: a write must not rest
    on a membership an admin removed in between."""
    if actor.user_id is None:
        return false()
    mine, theirs = _MEMBERSHIPS.alias("mine"), _MEMBERSHIPS.alias("theirs")
    housemates = (
        select(theirs.c.user_id)
        .join(mine, mine.c.household_id == theirs.c.household_id)
        .where(mine.c.user_id == actor.user_id)
    )
    return _shared_into(housemates)


def _owns(actor: Actor, owner: Mapped[uuid.UUID]) -> ColumnElement[bool]:
    if actor.user_id is None:
        return false()
    return col(owner) == actor.user_id


def product_visible(actor: Actor) -> ColumnElement[bool]:
    if actor.reads_everything:
        return true()
    shared = exists().where(col(Inventory.product_id) == col(Product.id), _shared_with(actor))
    return or_(_owns(actor, col(Product.owner_id)), shared)


def inventory_visible(actor: Actor) -> ColumnElement[bool]:
    if actor.reads_everything:
        return true()
    return or_(_owns(actor, col(Inventory.owner_id)), _shared_with(actor))


def _may_manage(actor: Actor, owner_id: uuid.UUID) -> bool:
    # owners and admins create/delete inventory, change sharing, change/delete products
    return not actor.is_service and (actor.is_admin or owner_id == actor.user_id)


def _require_user(actor: Actor) -> None:
    if actor.is_service:
        raise Forbidden("service principals may only read")


# ---------------------------------------------------------------- products


async def list_products(
    session: AsyncSession, actor: Actor, after: uuid.UUID | None, limit: int
) -> Sequence[Row[Any]]:
    """One keyset page (`limit` rows) of the products the actor can see, as plain rows
    (no ORM instances: a listing only serialises them)."""
    if actor.reads_everything:
        query = keyset(select(*_PRODUCT_COLUMNS), col(Product.id), after, limit)
        return (await session.execute(query)).all()
    # Two index-ordered branches (own products; products with rows shared into the
    # household), each cut to one page, then merged: cost grows with the page, not the table.
    own = select(col(Product.id)).where(_owns(actor, col(Product.owner_id)))
    own_sq = keyset(own, col(Product.id), after, limit).subquery()
    ids: Any = select(own_sq.c.id)
    if actor.household_id is not None:
        shared_sq = _shared_product_ids(session, actor, after, limit).subquery()
        ids = union(ids, select(shared_sq.c.product_id))
    query = select(*_PRODUCT_COLUMNS).where(col(Product.id).in_(ids))
    query = keyset(query, col(Product.id), after, limit)
    return (await session.execute(query)).all()


def _shared_product_ids(
    session: AsyncSession, actor: Actor, after: uuid.UUID | None, limit: int
) -> Select[uuid.UUID]:
    """One page of product ids that have rows shared into the actor's household."""
    if is_postgres(session):
        # Per member, an ordered range of the (owner_id, is_household_shared, product_id)
        # index cut to one page (LATERAL), so the cost is members x page, not the number of
        # shared rows. SQLite has no LATERAL; the plain form below means the same.
        members = _household_members(actor).subquery()
        per_member = select(col(Inventory.product_id)).where(
            col(Inventory.owner_id) == members.c.user_id,
            col(Inventory.is_household_shared) == true(),
        )
        rows = keyset(per_member, col(Inventory.product_id), after, limit).lateral()
        return (
            select(rows.c.product_id)
            .select_from(members)
            .join(rows, true())
            .distinct()
            .order_by(rows.c.product_id)
            .limit(limit)
        )
    shared = select(col(Inventory.product_id)).where(_shared_with(actor)).distinct()
    return keyset(shared, col(Inventory.product_id), after, limit)


async def _product(session: AsyncSession, actor: Actor, product_id: uuid.UUID) -> Product:
    query = select(Product).where(col(Product.id) == product_id, product_visible(actor))
    product = (await session.execute(query)).scalars().first()
    if product is None:
        raise NotFound("product not found")
    return product


async def product_for_read(session: AsyncSession, actor: Actor, product_id: uuid.UUID) -> Product:
    return await _product(session, actor, product_id)


async def product_for_write(session: AsyncSession, actor: Actor, product_id: uuid.UUID) -> Product:
    """A product the actor may change or delete (or add inventory to)."""
    _require_user(actor)
    product = await _product(session, actor, product_id)
    if not _may_manage(actor, product.owner_id):
        raise Forbidden("only the owner or an admin may change this product")
    return product


async def update_product(
    session: AsyncSession, actor: Actor, product: Product, changes: dict[str, Any]
) -> Product | None:
    """Write `changes` to a product `product_for_write` returned, if it still exists and
    is still the actor's to change (None otherwise). The owner never changes, so the
    check cannot go stale; the row can still be deleted in between, which an ORM flush
    would report as a StaleDataError (a 500)."""
    statement = (
        update(Product)
        .where(col(Product.id) == product.id, _manages(actor, col(Product.owner_id)))
        .values(**changes, updated_at=utcnow())
        .returning(Product)
    )
    result = await session.execute(statement, execution_options={"populate_existing": True})
    return result.scalars().first()


def _manages(actor: Actor, owner: Mapped[uuid.UUID]) -> ColumnElement[bool]:
    """`_may_manage` as SQL, for the WHERE of a write."""
    if actor.is_service:
        return false()
    if actor.is_admin:
        return true()
    return _owns(actor, owner)


# ---------------------------------------------------------------- inventory


async def list_inventory(
    session: AsyncSession,
    actor: Actor,
    product_id: uuid.UUID,
    after: uuid.UUID | None,
    limit: int,
) -> Sequence[Inventory]:
    """Rows of a visible product: owner and admin all, household members shared only."""
    await _product(session, actor, product_id)
    query = select(Inventory).where(
        col(Inventory.product_id) == product_id, inventory_visible(actor)
    )
    query = keyset(query, col(Inventory.id), after, limit)
    return (await session.execute(query)).scalars().all()


async def _inventory(session: AsyncSession, actor: Actor, inventory_id: uuid.UUID) -> Inventory:
    query = select(Inventory).where(col(Inventory.id) == inventory_id, inventory_visible(actor))
    row = (await session.execute(query)).scalars().first()
    if row is None:
        raise NotFound("inventory row not found")
    return row


async def inventory_for_read(
    session: AsyncSession, actor: Actor, inventory_id: uuid.UUID
) -> Inventory:
    return await _inventory(session, actor, inventory_id)


async def inventory_for_update(
    session: AsyncSession, actor: Actor, inventory_id: uuid.UUID, fields: Collection[str]
) -> Inventory:
    """A row the actor may apply a change of `fields` to."""
    _require_user(actor)
    row = await _inventory(session, actor, inventory_id)
    if _may_manage(actor, row.owner_id):
        return row
    # visible but not owned: a household member on a shared row
    refused = sorted(set(fields) - MEMBER_INVENTORY_FIELDS)
    if refused:
        raise Forbidden(
            f"household members may change only {', '.join(sorted(MEMBER_INVENTORY_FIELDS))}"
            f"; not {', '.join(refused)}"
        )
    return row


async def update_inventory(
    session: AsyncSession, actor: Actor, row: Inventory, changes: dict[str, Any]
) -> Inventory | None:
    """Write `changes` to a row `inventory_for_update` returned, bumping its version, only
    if the row is still as that check saw it: same version (so sharing unchanged: every
    write bumps the version) and still writable by the actor with the household the
    database has now. None when nothing matched; the caller looks again.

    The condition sits in the UPDATE itself, so on PostgreSQL it is re-evaluated on the
    newest row version once a concurrent writer commits (READ COMMITTED), and SQLite
    writes one at a time: no window between check and write on either.
    """
    writable = _manages(actor, col(Inventory.owner_id))
    if not set(changes) - MEMBER_INVENTORY_FIELDS:
        writable = or_(writable, _shared_with_now(actor))
    statement = (
        update(Inventory)
        .where(col(Inventory.id) == row.id, col(Inventory.version) == row.version, writable)
        .values(**changes, version=col(Inventory.version) + 1, updated_at=utcnow())
        .returning(Inventory)
    )
    result = await session.execute(statement, execution_options={"populate_existing": True})
    return result.scalars().first()


async def inventory_for_delete(
    session: AsyncSession, actor: Actor, inventory_id: uuid.UUID
) -> Inventory:
    _require_user(actor)
    row = await _inventory(session, actor, inventory_id)
    if not _may_manage(actor, row.owner_id):
        raise Forbidden("only the owner or an admin may delete this inventory row")
    return row

"""/admin: users who signed in, households and memberships. Admins only (guard)."""

import uuid

from litestar import Router, delete, get, post, put
from litestar.params import FromPath, JSONBody
from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from resource_api.db import dialect_insert
from resource_api.dependencies import Me, Session
from resource_api.errors import NotFound, error_responses
from resource_api.guards import admins
from resource_api.models import (
    Household,
    HouseholdCreate,
    HouseholdMembership,
    HouseholdPublic,
    MembershipAssign,
    MembershipPublic,
    User,
    UserList,
    UserPublic,
)
from resource_api.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, keyset, page

# the handlers take `actor: Me` though they do not read it: every authenticated request of
# a user records the identity, admin calls included


async def _user(db_session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await db_session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


@get("/users", responses=error_responses())
async def list_users(
    db_session: Session, actor: Me, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> UserList:
    query = keyset(select(User), col(User.id), decode_cursor(cursor), limit + 1)
    items, next_cursor = page((await db_session.execute(query)).scalars().all(), limit)
    return UserList(items=[UserPublic.model_validate(u) for u in items], next=next_cursor)


@post("/households", status_code=201, responses=error_responses(413))
async def create_household(
    db_session: Session, actor: Me, data: JSONBody[HouseholdCreate]
) -> HouseholdPublic:
    household = Household(name=data.name)
    db_session.add(household)
    await db_session.commit()
    return HouseholdPublic.model_validate(household)


@put("/users/{user_id:str}/household", responses=error_responses(404, 413))
async def assign_household(
    db_session: Session, actor: Me, user_id: FromPath[uuid.UUID], data: JSONBody[MembershipAssign]
) -> MembershipPublic:
    await _user(db_session, user_id)
    if await db_session.get(Household, data.household_id) is None:
        raise NotFound("household not found")
    # one household per user: the user is the membership's key, so this assigns or moves
    statement = dialect_insert(db_session)(HouseholdMembership).values(
        user_id=user_id, household_id=data.household_id, role=data.role
    )
    statement = statement.on_conflict_do_update(
        index_elements=["user_id"],
        set_={"household_id": data.household_id, "role": data.role},
    )
    await db_session.execute(statement)
    await db_session.commit()
    return MembershipPublic(user_id=user_id, household_id=data.household_id, role=data.role)


@delete("/users/{user_id:str}/household", status_code=204, responses=error_responses(404))
async def remove_household(db_session: Session, actor: Me, user_id: FromPath[uuid.UUID]) -> None:
    await _user(db_session, user_id)
    await db_session.execute(
        sql_delete(HouseholdMembership).where(col(HouseholdMembership.user_id) == user_id)
    )
    await db_session.commit()


router = Router(
    path="/admin",
    guards=[admins],
    route_handlers=[list_users, create_household, assign_household, remove_household],
    tags=["admin"],
)

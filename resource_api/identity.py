"""From an authenticated `Caller` to an `Actor`: the local user row and household.

The first request of an identity creates its row keyed by `(issuer, subject)` with an
upsert, so concurrent first requests cannot collide; later requests refresh `email`,
`name`, `role` and `last_seen_at` (the latter at most once a minute, so reads stay reads).
"""

import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from resource_api.auth import Caller
from resource_api.db import dialect_insert
from resource_api.ids import uuid7
from resource_api.models import UNSTORABLE, HouseholdMembership, User, as_utc, utcnow
from resource_api.scopes import READ_SCOPE

LAST_SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Actor:
    """Who acts, as the access layer needs it."""

    user_id: uuid.UUID | None  # None for a service principal
    household_id: uuid.UUID | None
    is_admin: bool
    is_service: bool
    scopes: frozenset[str] = frozenset()

    @property
    def reads_everything(self) -> bool:
        # SPEC: admins see everything; service principals read across all users
        return self.is_admin or (self.is_service and READ_SCOPE in self.scopes)


def _profile(caller: Caller) -> dict[str, Any]:
    claims = caller.principal.claims
    email, name = claims.get("email"), claims.get("name")
    # an unstorable character in a claim would 500 every request of its user: drop it
    return {
        "email": UNSTORABLE.sub("", email)[:320] if isinstance(email, str) else None,
        "name": UNSTORABLE.sub("", name)[:200] if isinstance(name, str) else None,
        "role": "admin" if caller.is_admin else "member",
    }


async def resolve_actor(session: AsyncSession, caller: Caller) -> Actor:
    if caller.is_service:
        return Actor(
            user_id=None,
            household_id=None,
            is_admin=False,
            is_service=True,
            scopes=caller.principal.scopes,
        )
    profile = _profile(caller)
    row = (
        await session.execute(
            select(
                col(User.id),
                col(User.email),
                col(User.name),
                col(User.role),
                col(User.last_seen_at),
                col(HouseholdMembership.household_id),
            )
            .outerjoin(HouseholdMembership, col(HouseholdMembership.user_id) == col(User.id))
            .where(col(User.issuer) == caller.issuer, col(User.subject) == caller.subject)
            .limit(1)
        )
    ).first()
    now = utcnow()
    if row is not None and not _stale(row, profile, now):
        user_id, household_id = row.id, row.household_id  # the common case: one query
    else:
        user_id = await _upsert(session, caller, profile, now)
        await session.commit()
        household_id = await _household_of(session, user_id)
    return Actor(
        user_id=user_id,
        household_id=household_id,
        is_admin=caller.is_admin,
        is_service=False,
        scopes=caller.principal.scopes,
    )


async def _household_of(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        select(col(HouseholdMembership.household_id)).where(
            col(HouseholdMembership.user_id) == user_id
        )
    )


def _stale(row: Any, profile: dict[str, Any], now: Any) -> bool:
    seen = as_utc(row.last_seen_at)  # naive on SQLite
    return bool(
        row.email != profile["email"]
        or row.name != profile["name"]
        or row.role != profile["role"]
        or now - seen >= LAST_SEEN_RESOLUTION
    )


async def _upsert(
    session: AsyncSession, caller: Caller, profile: dict[str, Any], now: Any
) -> uuid.UUID:
    statement = dialect_insert(session)(User).values(
        id=uuid7(),
        issuer=caller.issuer,
        subject=caller.subject,
        created_at=now,
        last_seen_at=now,
        **profile,
    )
    upsert = statement.on_conflict_do_update(
        index_elements=["issuer", "subject"],
        set_={**profile, "last_seen_at": now},
    ).returning(col(User.id))
    user_id: uuid.UUID = (await session.execute(upsert)).scalar_one()
    return user_id


async def with_current_household(session: AsyncSession, actor: Actor) -> Actor:
    """The actor with its household as the database says now (memberships change while a
    request runs: a write that failed its condition looks again with this)."""
    if actor.user_id is None:
        return actor
    household_id = await _household_of(session, actor.user_id)
    return replace(actor, household_id=household_id)

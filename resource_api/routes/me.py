"""GET /me and the public GET /health."""

from litestar import get
from sqlalchemy import select
from sqlmodel import col

from resource_api.dependencies import Me, Session
from resource_api.errors import error_responses
from resource_api.guards import users
from resource_api.models import (
    Household,
    HouseholdMembership,
    MePublic,
    MyHousehold,
    User,
    UserPublic,
)


@get("/health", exclude_from_auth=True, security=[{}], tags=["health"])  # OpenAPI: no auth
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/me", guards=[users], tags=["me"], responses=error_responses())
async def me(db_session: Session, actor: Me) -> MePublic:
    user = await db_session.get_one(User, actor.user_id)
    household = None
    if actor.household_id is not None:
        row = (
            await db_session.execute(
                select(col(Household.id), col(Household.name), col(HouseholdMembership.role))
                .join(
                    HouseholdMembership, col(HouseholdMembership.household_id) == col(Household.id)
                )
                .where(col(HouseholdMembership.user_id) == actor.user_id)
            )
        ).first()
        if row is not None:
            household = MyHousehold(id=row.id, name=row.name, role=row.role)
    return MePublic(user=UserPublic.model_validate(user), household=household)

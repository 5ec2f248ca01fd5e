"""Tables and their API models (create / update / public: a table model is never returned).

Timestamps are stored as UTC; UUID keys are version 7 so the primary key orders by age.
"""

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictStr,
    model_validator,
)
from pydantic import Field as Constraint
from sqlalchemy import DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from resource_api.ids import uuid7

NAME_MAX = 200
TEXT_MAX = 2000
QUANTITY_MAX = 1e12
#: C0 controls, DEL and lone surrogates: PostgreSQL refuses NUL in text and UTF-8 cannot
#: carry a lone surrogate (JSON's "\ud800" decodes to one), so neither can be stored
UNSTORABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


def _timestamp(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False, **kwargs)


# ---------------------------------------------------------------- tables


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_users_issuer_subject"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    issuer: str = Field(max_length=2048)
    subject: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=NAME_MAX)
    role: str = Field(default="member", max_length=16)
    created_at: datetime = _timestamp()
    last_seen_at: datetime = _timestamp()


class Household(SQLModel, table=True):
    __tablename__ = "households"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    name: str = Field(max_length=NAME_MAX)
    created_at: datetime = _timestamp()


class HouseholdMembership(SQLModel, table=True):
    """A user belongs to at most one household: the user is the primary key."""

    __tablename__ = "household_memberships"

    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    household_id: uuid.UUID = Field(foreign_key="households.id", index=True, ondelete="CASCADE")
    role: str = Field(default="member", max_length=16)
    created_at: datetime = _timestamp()


class Product(SQLModel, table=True):
    __tablename__ = "products"
    # keyset pages of one owner's products: WHERE owner_id = ? AND id > ? ORDER BY id
    __table_args__ = (Index("ix_products_owner_id_id", "owner_id", "id"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    name: str = Field(max_length=NAME_MAX)
    brand: str | None = Field(default=None, max_length=NAME_MAX)
    category: str | None = Field(default=None, max_length=NAME_MAX)
    notes: str | None = Field(default=None, max_length=TEXT_MAX)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Inventory(SQLModel, table=True):
    __tablename__ = "inventory"
    __table_args__ = (
        Index("ix_inventory_product_id_id", "product_id", "id"),
        Index("ix_inventory_owner_id_shared", "owner_id", "is_household_shared", "product_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    product_id: uuid.UUID = Field(foreign_key="products.id", ondelete="CASCADE")
    owner_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    quantity: float
    unit: str | None = Field(default=None, max_length=NAME_MAX)
    location: str | None = Field(default=None, max_length=NAME_MAX)
    expires_on: date | None = None
    is_household_shared: bool = False
    #: bumped by every update; the ETag is derived from it
    version: int = 1
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


# ---------------------------------------------------------------- request bodies

_FORBID = ConfigDict(extra="forbid")
# C0 controls and DEL. PostgreSQL text cannot hold NUL at all (asyncpg raises, a 500), and
# the others have no business in a name; notes may keep tab, line feed and carriage return.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_CONTROLS_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _one_line(value: str) -> str:
    if _CONTROLS.search(value):
        raise ValueError("must not contain control characters (U+0000-U+001F, U+007F)")
    return value


def _text(value: str) -> str:
    if _CONTROLS_IN_TEXT.search(value):
        raise ValueError("must not contain control characters other than tab and line breaks")
    return value


Name = Annotated[
    StrictStr, Constraint(min_length=1, max_length=NAME_MAX), AfterValidator(_one_line)
]
ShortText = Annotated[StrictStr, Constraint(max_length=NAME_MAX), AfterValidator(_one_line)]
LongText = Annotated[StrictStr, Constraint(max_length=TEXT_MAX), AfterValidator(_text)]


# Litestar validates bodies with `strict=False`, which overrides pydantic's per-field
# strictness, so JSON types are checked here: "5" is not a number, "yes" not a boolean.
def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON number")
    return value


def _json_boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


Quantity = Annotated[
    float,
    BeforeValidator(_json_number),
    Constraint(ge=0, le=QUANTITY_MAX, allow_inf_nan=False),
]
Flag = Annotated[bool, BeforeValidator(_json_boolean)]


class _Body(SQLModel):
    model_config = _FORBID  # type: ignore[assignment]


def _no_nulls(model: SQLModel, *names: str) -> None:
    for name in names:
        if name in model.model_fields_set and getattr(model, name) is None:
            raise ValueError(f"{name} may not be null")


class ProductCreate(_Body):
    name: Name
    brand: ShortText | None = None
    category: ShortText | None = None
    notes: LongText | None = None


class ProductUpdate(_Body):
    name: Name | None = None
    brand: ShortText | None = None
    category: ShortText | None = None
    notes: LongText | None = None

    @model_validator(mode="after")
    def _check(self) -> "ProductUpdate":
        _no_nulls(self, "name")
        return self


class InventoryCreate(_Body):
    quantity: Quantity
    unit: ShortText | None = None
    location: ShortText | None = None
    expires_on: date | None = None
    is_household_shared: Flag = False


class InventoryUpdate(_Body):
    quantity: Quantity | None = None
    unit: ShortText | None = None
    location: ShortText | None = None
    expires_on: date | None = None
    is_household_shared: Flag | None = None

    @model_validator(mode="after")
    def _check(self) -> "InventoryUpdate":
        _no_nulls(self, "quantity", "is_household_shared")
        return self


#: what a household member may change on a shared row (SPEC: PATCH /inventory/{id})
MEMBER_INVENTORY_FIELDS = frozenset({"quantity", "unit", "location", "expires_on"})


class HouseholdCreate(_Body):
    name: Name


class MembershipAssign(_Body):
    household_id: uuid.UUID
    role: Literal["owner", "member"] = "member"


# ---------------------------------------------------------------- responses


class _Public(BaseModel):
    """Response models are plain pydantic: validating 50 rows of a page through SQLModel's
    hooks costs ~6x more, measurable in bench/api.py."""

    model_config = ConfigDict(from_attributes=True)


class UserPublic(_Public):
    id: uuid.UUID
    issuer: str
    subject: str
    email: str | None
    name: str | None
    role: str
    created_at: UtcDatetime
    last_seen_at: UtcDatetime


class HouseholdPublic(_Public):
    id: uuid.UUID
    name: str


class MyHousehold(_Public):
    id: uuid.UUID
    name: str
    role: str


class MePublic(_Public):
    user: UserPublic
    household: MyHousehold | None


class ProductPublic(_Public):
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    brand: str | None
    category: str | None
    notes: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ProductPage(_Public):
    items: list[ProductPublic]
    next: str | None


class InventoryPublic(_Public):
    id: uuid.UUID
    product_id: uuid.UUID
    owner_id: uuid.UUID
    quantity: float
    unit: str | None
    location: str | None
    expires_on: date | None
    is_household_shared: bool
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class InventoryList(_Public):
    items: list[InventoryPublic]
    next: str | None


class UserList(_Public):
    items: list[UserPublic]
    next: str | None


class MembershipPublic(_Public):
    user_id: uuid.UUID
    household_id: uuid.UUID
    role: str

"""Stateful property test: random operations by random actors against a reference model.

After every step each actor's product listing, and the whole database, must equal what
the model (SPEC's rules, written independently of the SQL) says: nobody read or changed
anything outside the rules.
"""

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from resource_api.app import create_app
from resource_api.db import create_engine
from tests.resource_api.conftest import (
    BASE_URL,
    make_settings,
    provider_transport,
    truncate,
)
from tests.resource_api.world import actor_headers
from tests.support.tokens import TokenFactory

USERS = {"owner": "alice", "member": "bob", "other": "carol", "loner": "dave", "admin": "root"}
ACTORS = (*USERS, "svc_read", "svc_none")
MEMBER_FIELDS = {"quantity"}


@dataclass
class Row:
    product: str
    owner: str
    shared: bool
    quantity: float = 1.0
    version: int = 1


@dataclass
class Model:
    households: dict[str, str | None] = field(default_factory=dict)  # user -> household
    products: dict[str, str] = field(default_factory=dict)  # product id -> owner user
    rows: dict[str, Row] = field(default_factory=dict)

    def is_admin(self, actor: str) -> bool:
        return actor == "admin"

    def reads_all(self, actor: str) -> bool:
        return actor in ("admin", "svc_read")

    def same_household(self, actor: str, owner: str) -> bool:
        mine = self.households.get(USERS.get(actor, ""))
        return mine is not None and self.households.get(owner) == mine

    def row_visible(self, actor: str, row_id: str) -> bool:
        row = self.rows.get(row_id)
        if row is None:
            return False
        if self.reads_all(actor):
            return True
        return row.owner == USERS.get(actor) or (
            row.shared and self.same_household(actor, row.owner)
        )

    def product_visible(self, actor: str, product_id: str) -> bool:
        owner = self.products.get(product_id)
        if owner is None:
            return False
        if self.reads_all(actor) or owner == USERS.get(actor):
            return True
        return any(
            r.product == product_id and r.shared and self.same_household(actor, r.owner)
            for r in self.rows.values()
        )

    def manages(self, actor: str, owner: str) -> bool:
        return self.is_admin(actor) or USERS.get(actor) == owner


class AccessMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    database_url: str
    database: str
    tokens: TokenFactory

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.ids: list[str] = []  # every id ever created, deleted ones included
        self.row_ids: list[str] = []
        self.user_ids: dict[str, str] = {}
        self.household_ids: list[str] = []
        self.dirty = True
        self.headers = actor_headers(self.tokens)
        self.loop.run_until_complete(truncate(self.database))
        self.engine = create_engine(self.database_url)
        self.http = httpx.AsyncClient(transport=provider_transport(self.tokens))
        app = create_app(
            make_settings(self.database_url), http_client=self.http, engine=self.engine
        )
        self.api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)

    def teardown(self) -> None:
        async def close() -> None:
            await self.api.aclose()
            await self.http.aclose()
            await self.engine.dispose()

        self.loop.run_until_complete(close())

    def call(self, actor: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
        request = self.api.request(
            method, path, json=body, headers={**self.headers[actor], **headers}
        )
        response = self.loop.run_until_complete(request)
        if method != "GET" and response.status_code < 300:
            self.dirty = True  # visibility may have changed: re-check every listing
        return response

    @initialize()
    def setup_users(self) -> None:
        for actor, user in USERS.items():
            response = self.call(actor, "GET", "/me")
            assert response.status_code == 200
            self.user_ids[user] = response.json()["user"]["id"]
            self.model.households[user] = None
        for name in ("H1", "H2"):
            response = self.call("admin", "POST", "/admin/households", {"name": name})
            self.household_ids.append(response.json()["id"])
        # start from the interesting case (shared households); move_user reshuffles later
        for user, to in (("alice", 0), ("bob", 0), ("carol", 1)):
            self.move_user(user, to)
        for actor in ("owner", "owner", "member", "other"):
            self.create_product(actor)
        for pick, shared in ((0, True), (0, False), (1, False), (2, True), (3, True)):
            self.create_row("owner" if pick < 2 else "admin", pick, shared)

    # ------------------------------------------------------------ operations

    @rule(actor=st.sampled_from(ACTORS))
    def create_product(self, actor: str) -> None:
        response = self.call(actor, "POST", "/products", {"name": "p"})
        if actor.startswith("svc"):
            assert response.status_code == 403
            return
        assert response.status_code == 201, response.text
        product_id = response.json()["id"]
        self.ids.append(product_id)
        self.model.products[product_id] = USERS[actor]

    @precondition(lambda self: self.ids)
    @rule(actor=st.sampled_from(ACTORS), pick=st.integers(0, 999), shared=st.booleans())
    def create_row(self, actor: str, pick: int, shared: bool) -> None:
        product_id = self.ids[pick % len(self.ids)]
        body = {"quantity": 1, "is_household_shared": shared}
        response = self.call(actor, "POST", f"/products/{product_id}/inventory", body)
        expected = self._write_status(actor, product_id, 201)
        assert response.status_code == expected, response.text
        if expected == 201:
            row_id = response.json()["id"]
            self.row_ids.append(row_id)
            owner = self.model.products[product_id]
            self.model.rows[row_id] = Row(product=product_id, owner=owner, shared=shared)

    @precondition(lambda self: self.ids)
    @rule(actor=st.sampled_from(ACTORS), pick=st.integers(0, 999))
    def read_product(self, actor: str, pick: int) -> None:
        product_id = self.ids[pick % len(self.ids)]
        response = self.call(actor, "GET", f"/products/{product_id}")
        assert response.status_code == self._read_status(
            actor, self.model.product_visible(actor, product_id)
        )
        listing = self.call(actor, "GET", f"/products/{product_id}/inventory?limit=200")
        if listing.status_code == 200:
            seen = {r["id"] for r in listing.json()["items"]}
            expected = {
                r for r, row in self.model.rows.items()
                if row.product == product_id and self.model.row_visible(actor, r)
            }  # fmt: skip
            assert seen == expected

    @precondition(lambda self: self.ids)
    @rule(actor=st.sampled_from(ACTORS), pick=st.integers(0, 999), delete=st.booleans())
    def change_product(self, actor: str, pick: int, delete: bool) -> None:
        product_id = self.ids[pick % len(self.ids)]
        if delete:
            response = self.call(actor, "DELETE", f"/products/{product_id}")
            expected = self._write_status(actor, product_id, 204)
        else:
            response = self.call(actor, "PATCH", f"/products/{product_id}", {"name": "q"})
            expected = self._write_status(actor, product_id, 200)
        assert response.status_code == expected, response.text
        if delete and expected == 204:
            del self.model.products[product_id]
            for row_id in [r for r, row in self.model.rows.items() if row.product == product_id]:
                del self.model.rows[row_id]

    @precondition(lambda self: self.row_ids)
    @rule(
        actor=st.sampled_from(ACTORS),
        pick=st.integers(0, 999),
        change=st.sampled_from(["read", "quantity", "share", "delete", "stale"]),
    )
    def touch_row(self, actor: str, pick: int, change: str) -> None:
        row_id = self.row_ids[pick % len(self.row_ids)]
        visible = self.model.row_visible(actor, row_id)
        row = self.model.rows.get(row_id)
        path = f"/inventory/{row_id}"
        if change == "read":
            response = self.call(actor, "GET", path)
            assert response.status_code == self._read_status(actor, visible)
            if response.status_code == 200:
                assert row is not None
                assert response.headers["etag"] == f'"{row.version}"'
            return
        if actor.startswith("svc"):
            expected = 403
        elif not visible:
            expected = 404
        elif row is not None and self.model.manages(actor, row.owner):
            expected = 204 if change == "delete" else 200
        else:  # a household member on a shared row
            expected = 200 if change in ("quantity", "stale") else 403
        if change == "delete":
            response = self.call(actor, "DELETE", path)
        elif change == "share":
            assert row is not None or expected != 200
            shared = not row.shared if row else True
            response = self.call(actor, "PATCH", path, {"is_household_shared": shared})
        else:
            version = row.version if row else 1
            if change == "stale":
                version -= 1
                expected = 412 if expected == 200 else expected
            response = self.call(
                actor, "PATCH", path, {"quantity": version + 7}, **{"If-Match": f'"{version}"'}
            )
        assert response.status_code == expected, (change, response.text)
        if row is None or expected not in (200, 204):
            return
        if change == "delete":
            del self.model.rows[row_id]
            return
        if change == "share":
            row.shared = not row.shared
        else:
            row.quantity = row.version + 7
        row.version += 1

    @rule(user=st.sampled_from(sorted(set(USERS.values()) - {"root"})), to=st.integers(-1, 1))
    def move_user(self, user: str, to: int) -> None:
        path = f"/admin/users/{self.user_ids[user]}/household"
        if to < 0:
            response = self.call("admin", "DELETE", path)
            assert response.status_code == 204
            self.model.households[user] = None
        else:
            body = {"household_id": self.household_ids[to], "role": "member"}
            assert self.call("admin", "PUT", path, body).status_code == 200
            self.model.households[user] = self.household_ids[to]

    # ------------------------------------------------------------ expectations

    def _read_status(self, actor: str, visible: bool) -> int:
        if actor == "svc_none":
            return 403
        return 200 if visible else 404

    def _write_status(self, actor: str, product_id: str, success: int) -> int:
        if actor.startswith("svc"):
            return 403
        if not self.model.product_visible(actor, product_id):
            return 404
        return success if self.model.manages(actor, self.model.products[product_id]) else 403

    # ------------------------------------------------------------ invariants

    @invariant()
    def listings_match_the_rules(self) -> None:
        if not self.user_ids or not self.dirty:
            return
        self.dirty = False
        for actor in ACTORS:
            response = self.call(actor, "GET", "/products?limit=200")
            if actor == "svc_none":
                assert response.status_code == 403
                continue
            seen = {p["id"] for p in response.json()["items"]}
            expected = {p for p in self.model.products if self.model.product_visible(actor, p)}
            assert seen == expected, actor

    @invariant()
    def database_matches_the_model(self) -> None:
        async def snapshot() -> tuple[dict[str, str], dict[str, tuple[Any, ...]]]:
            async with self.engine.connect() as connection:
                products = await connection.execute(text("SELECT id, owner_id FROM products"))
                rows = await connection.execute(
                    text(
                        "SELECT id, product_id, owner_id, is_household_shared, quantity, version"
                        " FROM inventory"
                    )
                )
                return (
                    {str(p.id): str(p.owner_id) for p in products},
                    {str(r.id): tuple(r)[1:] for r in rows},
                )

        products, rows = self.loop.run_until_complete(snapshot())
        names = {v: k for k, v in self.user_ids.items()}
        assert {p: names[o] for p, o in products.items()} == self.model.products
        expected_rows = {
            r: (uuid.UUID(row.product), uuid.UUID(self.user_ids[row.owner]), row.shared,
                row.quantity, row.version)
            for r, row in self.model.rows.items()
        }  # fmt: skip
        assert rows == expected_rows


def test_random_operations_respect_the_rules(
    database_url: str, pg_database: str, tokens: TokenFactory
) -> None:
    loop = asyncio.new_event_loop()
    AccessMachine.loop = loop
    AccessMachine.database_url = database_url
    AccessMachine.database = pg_database
    AccessMachine.tokens = tokens
    try:
        run_state_machine_as_test(
            AccessMachine,
            settings=settings(
                max_examples=20,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.close()

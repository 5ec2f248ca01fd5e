"""`BFF`: the per-application objects the `/auth` routes and health need, built by `create_app`."""

from collections.abc import Callable
from dataclasses import dataclass

from bff.cookies import CookiePolicy
from bff.login.transaction import Transactions
from bff.oidc import Provider
from bff.proxy.upstream import Upstream
from bff.refresh.refresher import Refresher
from bff.session.manager import SessionManager
from bff.session.replay import OneTimeMarkers
from bff.session.revocation import RevocationList
from bff.session.store import SessionStore
from bff.settings import Settings


@dataclass
class BFF:
    settings: Settings
    clock: Callable[[], float]
    policy: CookiePolicy
    sessions: SessionManager
    store: SessionStore
    revocations: RevocationList
    markers: OneTimeMarkers
    transactions: Transactions
    provider: Provider
    refresher: Refresher
    upstream: Upstream

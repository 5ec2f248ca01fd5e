"""Faults during steady traffic: provider, JWKS, upstream, PostgreSQL and Redis each go away
and come back while a signed-in browser keeps calling the API through the BFF.

Never a 500 (or no answer at all); a clear 502/503/504 while the dependency is gone, and a
503 says when to retry; every request succeeds again within 5 s of its return, without a
restart; the session is never lost (no 401), and no row is lost or duplicated: every write
answered 201 is in the database exactly once, every write refused is not.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.e2e.browser import Browser
from tests.e2e.faults import (
    FAULTS,
    RECOVERY_S,
    FaultReport,
    FaultStack,
    fault_stack,
    run_fault,
    stored_names,
)


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultStack]:
    with fault_stack() as running:
        yield running


def _assert_held(report: FaultReport, database: str) -> None:
    summary = f"{report.fault}: {dict(report.statuses)}"
    assert report.outcomes, summary
    assert not [o for o in report.outcomes if o.status == 0], f"no answer: {summary}"
    assert not report.server_errors(), f"server errors: {report.server_errors()[:3]}"
    assert not [o for o in report.outcomes if o.status == 401], f"session lost: {summary}"
    assert not report.unavailable_without_retry_after(), summary
    recovery = report.recovery_s()
    assert recovery is not None, f"never recovered: {summary}"
    assert recovery <= RECOVERY_S, f"recovered after {recovery:.1f} s: {summary}"
    stored = stored_names(database, f"fault-{report.fault}-")
    created = report.created()
    assert sorted(stored) == sorted(created), "a row was lost or duplicated"
    # a write refused because a dependency was gone never took effect (no 504 here: the
    # relays refuse at once, so no answer is ambiguous)
    assert not set(report.refused_writes()) & set(stored)


@pytest.mark.parametrize("fault", FAULTS)
def test_dependency_outage_during_steady_traffic(faulty: FaultStack, fault: str) -> None:
    proxy = faulty.proxies[fault]
    with Browser(faulty.e2e.bff_url) as browser:
        browser.login(f"f{secrets.token_hex(4)}")
        report = run_fault(fault, browser.client, faulty.e2e.bff_url, proxy.cut, proxy.restore)
        _assert_held(report, faulty.database)
        if fault in ("upstream", "postgresql", "redis"):
            assert report.during(), "the outage was never noticed"
            assert any(o.status in (502, 503, 504) for o in report.during()), report.statuses
        assert browser.me().status_code == 200

"""`bff.expiring.Expiring`: entries live until their expiry, pruned in expiry order."""

from bff.expiring import Expiring


def test_an_entry_is_live_until_it_expires() -> None:
    expiring: Expiring[str] = Expiring()
    expiring.put("k", "v", expires=10.0)
    assert expiring.live("k", 9.9) == ("v", 10.0)
    assert expiring.live("k", 10.0) is None
    assert expiring.live("other", 0.0) is None


def test_prune_drops_expired_entries_but_not_renewed_ones() -> None:
    expiring: Expiring[int] = Expiring()
    expiring.put("gone", 1, expires=5.0)
    expiring.put("renewed", 2, expires=5.0)
    expiring.put("renewed", 3, expires=50.0)
    expiring.put("later", 4, expires=20.0)
    expiring.prune(10.0)
    assert expiring.entries == {"renewed": (3, 50.0), "later": (4, 20.0)}
    expiring.prune(20.0)
    assert expiring.entries == {"renewed": (3, 50.0)}


def test_pop_soonest_removes_the_live_entry_closest_to_expiry() -> None:
    expiring: Expiring[str] = Expiring()
    expiring.put("a", "first", expires=30.0)
    expiring.put("b", "second", expires=10.0)
    expiring.put("b", "second again", expires=40.0)  # renewed: its old row is stale
    assert expiring.pop_soonest() == ("a", "first")
    assert expiring.pop_soonest() == ("b", "second again")
    assert expiring.pop_soonest() is None
    assert expiring.entries == {}


def test_renewals_do_not_grow_the_heap_without_bound() -> None:
    expiring: Expiring[None] = Expiring()
    for i in range(5000):
        expiring.put("same", None, expires=float(i + 1))
    assert expiring.entries == {"same": (None, 5000.0)}
    assert len(expiring._heap) <= 2 * len(expiring.entries) + 1024
    expiring.prune(4999.0)
    assert expiring.live("same", 4999.0) == (None, 5000.0)
    expiring.prune(5000.0)
    assert expiring.entries == {}

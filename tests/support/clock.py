"""The one fake clock of the test suite: time moves only when a test says so."""

#: a fixed "now" for deterministic tests (2023-11-14T22:13:20Z)
NOW = 1_700_000_000.0


class FakeClock:
    """An injectable `shared.Clock` that only moves when told to."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

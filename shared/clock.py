"""Injectable wall clock: every expiry decision in `shared` reads time through one of these."""

import time
from collections.abc import Callable

#: Returns the current Unix time in seconds.
Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()

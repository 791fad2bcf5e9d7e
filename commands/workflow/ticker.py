"""A timer thread that hands one task to the workflow's executor at a fixed interval."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Ticker:
    """Every `seconds`, submits `task` through `submit` (False: the executor is gone, stop).

    The thread only schedules; the work runs on the executor like any other workflow task.
    """

    def __init__(
        self,
        seconds: float,
        task: Callable[[], None],
        submit: Callable[[Callable[[], None]], bool],
        name: str,
    ) -> None:
        self._seconds = seconds
        self._task = task
        self._submit = submit
        self._name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        """Starts ticking; a second call, or one after `stop`, does nothing."""
        with self._lock:
            if self._thread is not None or self._stopped.is_set():
                return
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops ticking (a task already submitted still runs)."""
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._seconds):
            if not self._submit(self._task):
                return

"""A progress bar on plain stderr (no dependency): one updating line on a terminal,
one line per step otherwise (CI logs)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, width: int = 28) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.width = width
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, label: str) -> None:
        self.done = min(self.done + 1, self.total)
        self.show(label, final=True)

    def show(self, label: str, *, final: bool = False) -> None:
        """Redraw the bar (on a terminal; elsewhere only completed steps print a line)."""
        if not self.tty and not final:
            return
        fraction = self.done / self.total
        filled = int(self.width * fraction)
        elapsed = time.monotonic() - self.start
        eta = elapsed / fraction - elapsed if self.done else 0.0
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
                f"{fraction:4.0%} {_clock(elapsed)} elapsed, ~{_clock(eta)} left  {label}")
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line[:160])
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def note(self, message: str) -> None:
        """A message on its own line, without disturbing the bar."""
        sys.stderr.write(("\r\x1b[2K" if self.tty else "") + message + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s"

"""The one progress display of long commands (a reproduction, a table build): how far the whole is, what is
under way, the time elapsed and an estimate of the time left. On a terminal the line is redrawn in place;
elsewhere (a log file, CI) a line is printed at most every `interval` seconds."""

import sys
import time
from typing import TextIO


def clock(seconds: float) -> str:
    """'1:02:03': seconds as hours, minutes and seconds."""
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class Progress:
    """A line of progress over `total` units of work, `done` of them finished before this display started.
    No estimate of the time left is made before `settle` of the work left at the start is done (a first
    stretch dominated by loading or compiling would mislead it)."""

    def __init__(self, total: float, done: float = 0, stream: TextIO | None = None, interval: float = 30.0,
                 settle: float = 0.0):
        self.total, self.done, self.start_done = total, done, done
        self.stream = stream or sys.stdout
        self.terminal = self.stream.isatty()
        self.interval, self.settle = interval, settle
        self.start = time.perf_counter()
        self.last_shown = -float("inf")
        self.detail = ""
        self.ended = False

    def update(self, done: float, detail: str | None = None, force: bool = False) -> None:
        """The units done so far (and what is under way); shows the line if it is time to."""
        self.done = done
        if detail is not None:
            self.detail = detail
        self.show(force)

    def advance(self, count: float) -> None:
        self.update(self.done + count)

    def message(self, line: str) -> None:
        """A line of its own (a part finished, a warning), then the progress line again."""
        self.stream.write(("\r" + line.ljust(100) + "\n") if self.terminal else line + "\n")
        self.show(force=True)

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        fresh, left_at_start = self.done - self.start_done, self.total - self.start_done
        estimate = fresh > 0 and fresh >= self.settle * left_at_start
        left = clock(elapsed / fresh * (self.total - self.done)) if estimate else "?"
        detail = f" {self.detail} |" if self.detail else ""
        return f"[{self.done / max(self.total, 1e-9):6.1%}]{detail} elapsed {clock(elapsed)} | left ~{left}"

    def show(self, force: bool = False) -> None:
        now = time.perf_counter()
        finished = self.done >= self.total
        soon = now - self.last_shown < (0.5 if self.terminal else self.interval)
        if self.ended or (soon and not (force or finished)):
            return
        self.last_shown, self.ended = now, finished
        if self.terminal:
            self.stream.write("\r" + self.line().ljust(100) + ("\n" if finished else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

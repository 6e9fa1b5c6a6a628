"""Console output of the runner: one line per child output line, prefixed with its name."""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO

_PALETTE = ("36", "33", "35", "32", "34", "96", "93", "95")
_RESET = "\033[0m"
_BOLD = "1"
_RED = "31"


def use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Output:
    """Thread-safe prefixed printer; names get a stable colour when the stream is a TTY."""

    def __init__(self, stream: TextIO | None = None, *, colour: bool | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._colour = use_colour(self._stream) if colour is None else colour
        self._lock = threading.Lock()
        self._colours: dict[str, str] = {}
        self._width = 8

    def register(self, *names: str) -> None:
        """Reserve colours and widen the prefix column so the bars line up."""
        for name in names:
            if name not in self._colours:
                self._colours[name] = _PALETTE[len(self._colours) % len(_PALETTE)]
            self._width = max(self._width, len(name))

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}{_RESET}" if self._colour else text

    def _write(self, text: str) -> None:
        with self._lock:
            try:
                self._stream.write(text + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):  # closed pipe or stream: nothing to do
                pass

    def line(self, name: str, text: str) -> None:
        """A line of output of child `name`."""
        self.register(name)
        prefix = self._paint(f"{name:<{self._width}} |", self._colours[name])
        self._write(f"{prefix} {text}")

    def info(self, text: str) -> None:
        """A message of the runner itself."""
        self._write(f"{self._paint(self._runner_prefix('|'), _BOLD)} {text}")

    def error(self, text: str) -> None:
        self._write(f"{self._paint(self._runner_prefix('!'), _RED)} {text}")

    def _runner_prefix(self, bar: str) -> str:
        return f"{'runner':<{self._width}} {bar}"

    def plain(self, text: str = "") -> None:
        """Unprefixed text (the banner), so it can be copied as is."""
        self._write(text)

    def bold(self, text: str) -> str:
        return self._paint(text, _BOLD)

"""Progress of pipeline steps and sweep points: a tqdm bar on a terminal, one plain line per step or
point otherwise (CI logs and ``| tee`` get no carriage-return redraws)."""

from __future__ import annotations

import sys
from typing import Any


def on_terminal() -> bool:
    """True when progress goes to a terminal (stderr, where tqdm writes)."""
    return sys.stderr.isatty()


class Line:
    """The part of tqdm's interface the steps and sweeps use, printing one line when closed."""

    def __init__(self, desc: str, total: int = 1) -> None:
        self.desc = desc
        self.total = total
        self.n = 0
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        """Count `n` more done."""
        self.n += n

    def set_postfix_str(self, text: str) -> None:
        """What the line ends with."""
        self.postfix = text

    def close(self) -> None:
        """Print the line."""
        print(f"{self.desc}  {self.postfix}".rstrip(), file=sys.stderr, flush=True)


def bar(desc: str, total: int = 1, **tqdm_options: Any) -> Any:
    """A tqdm bar on a terminal; else a :class:`Line`."""
    if not on_terminal():
        return Line(desc, total)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, **tqdm_options)


def line(text: str) -> None:
    """One line of progress (stderr, like the bars)."""
    print(text, file=sys.stderr, flush=True)

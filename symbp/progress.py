"""Progress of long work: a tqdm.auto bar where tqdm is installed (a widget in Jupyter), a counter otherwise.

Work that can take more than a few seconds (the self-check, finite differences, the PDF
build) takes ``progress``: None (quiet), a callable ``progress(done, total)``, or True
for the best display at hand. The command line passes True only when stderr is a
terminal and neither --json nor --quiet is given.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

Reporter = Callable[[int, int], None]


class _Counter:
    """'self-check 3/10' rewritten in place on a terminal's stderr."""

    def __init__(self, what: str, stream=None):
        self.what, self.stream = what, stream or sys.stderr

    def __call__(self, done: int, total: int) -> None:
        self.stream.write(f"\r{self.what} {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


class _Bar:
    """A tqdm.auto bar, opened on the first report and closed on the last."""

    def __init__(self, what: str, tqdm):
        self.what, self.tqdm, self.bar = what, tqdm, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None or self.bar.total != total:
            self.bar = self.tqdm(total=total, desc=self.what, leave=False)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()
            self.bar = None


def reporter(progress: None | bool | Reporter, what: str) -> Reporter | None:
    """The callable to report to: None for no progress, the caller's own, or a bar or counter for True."""
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress
    try:
        from tqdm.auto import tqdm
    except ImportError:        # tqdm is optional
        return _Counter(what)
    return _Bar(what, tqdm)

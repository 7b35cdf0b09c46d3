"""Files a user names: capped reads of regular files, atomic writes, one-line errors (``PATH: reason``)."""
from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:         # not on Windows: there, concurrent writers are not serialised
    fcntl = None  # type: ignore[assignment]

from .errors import FileError

MAX_SPEC_BYTES = 1_000_000      # a spec or an answers file larger than this is refused (1 MB)
STDIN = "-"


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- reading -------------------------------------------------------------------------------

def read_text(path: str | Path, what: str = "file", cap: int = MAX_SPEC_BYTES, missing: str = "") -> str:
    """The UTF-8 text of a regular file (or stdin for ``-``), at most ``cap`` bytes; else FileError.

    A FIFO, a device or a directory is refused without reading it (opened non-blocking, so a
    FIFO with no writer cannot hang), and no more than ``cap + 1`` bytes are ever read.
    """
    if str(path) == STDIN:
        return _decode(STDIN, sys.stdin.buffer.read(cap + 1), what, cap)
    if str(path) == "":
        raise FileError(path, f"expected a {what} path, got an empty string")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileError(path, missing or f"no such {what}") from None
    except OSError as exc:
        raise FileError(path, f"cannot read the {what}: {_reason(exc)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileError(path, f"expected a regular {what}, got {_kind(mode)}")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise FileError(path, f"cannot read the {what}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    return _decode(path, data, what, cap)


def _decode(path, data: bytes, what: str, cap: int) -> str:
    if len(data) > cap:
        raise FileError(path, f"the {what} is larger than {cap:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(path, f"expected UTF-8 text, got byte {data[exc.start]:#04x} at offset {exc.start}") from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


# -- checks before any work ----------------------------------------------------------------

def check_output_file(path: str | Path) -> Path:
    """Refuse, before deriving anything, an output path that cannot become a regular file."""
    if str(path) == "":
        raise FileError(path, "expected an output file name, got an empty string")
    p = Path(path)
    mode = _mode(p, path)
    if mode is not None and not stat.S_ISREG(mode):
        raise FileError(path, f"expected a file to write, got {_kind(mode)} (refusing to replace it)")
    _check_parent(p.parent, path)
    return p


def check_output_dir(path: str | Path) -> Path:
    """Refuse an output directory that is a file, lies under a file, or cannot be written."""
    if str(path) == "":
        raise FileError(path, "expected an output directory, got an empty string")
    p = Path(path)
    mode = _mode(p, path)
    if mode is None:
        _check_parent(p.parent, path)
        return p
    if not stat.S_ISDIR(mode):
        raise FileError(path, f"expected a directory, got {_kind(mode) if not stat.S_ISREG(mode) else 'a file'}")
    if not os.access(p, os.W_OK | os.X_OK):
        raise FileError(path, "the directory is not writable")
    return p


def _mode(p: Path, path) -> int | None:
    """The file mode of ``p`` (None if it does not exist); any other failure is a FileError on ``path``."""
    try:
        return os.stat(p).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileError(path, f"cannot write here: {_reason(exc)}") from None


def _check_parent(parent: Path, path) -> None:
    """The nearest existing ancestor must be a writable directory (missing ones are created later)."""
    for d in (parent, *parent.parents):
        mode = _mode(d, path)
        if mode is None:
            continue
        if not stat.S_ISDIR(mode):
            raise FileError(path, f"{d} is not a directory")
        if not os.access(d, os.W_OK | os.X_OK):
            raise FileError(path, f"the directory {d} is not writable")
        return


# -- writing -------------------------------------------------------------------------------

def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    return next(iter(write_many({path: data})))


def write_many(files: Mapping[str | Path, bytes]) -> list[Path]:
    """Write several files together: every temporary file first, then the renames.

    A failure while writing (a full disk, a read-only directory) leaves every target as it
    was; only a failure between two renames could leave a mixed set. An existing target
    that is not a regular file (a directory, a FIFO, a device) is refused, never replaced.
    Errors are FileError naming the path.
    """
    paths = [Path(p) for p in files]
    for p in paths:
        check_output_file(p)
    staged: list[tuple[str, Path]] = []
    try:
        for p, data in zip(paths, files.values()):
            staged.append((_stage(p, data), p))
        with _locked({p.parent for p in paths}):
            for tmp, p in staged:
                try:
                    os.replace(tmp, p)
                except OSError as exc:
                    raise FileError(p, f"cannot write: {_reason(exc)}") from None
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
    return paths


@contextmanager
def _locked(dirs: Iterable[Path]) -> Iterator[None]:
    """Hold an advisory lock on each directory while a set of files is renamed into it.

    Two symbp processes writing one set (notes.tex, notes.pdf, notes.log) into the same
    directory then rename theirs one set after the other, never interleaved.
    """
    fds: list[int] = []
    try:
        for d in sorted(Path(d).resolve() for d in dirs):   # one order: no deadlock
            try:
                fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue                  # the rename reports what is wrong with the directory
            fds.append(fd)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        for fd in fds:
            os.close(fd)                  # closing the descriptor releases its lock


def _stage(path: Path, data: bytes) -> str:
    """``data`` in a new temporary file beside ``path``; its name."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise FileError(path, f"cannot write: {_reason(exc)}") from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; outputs are ordinary files
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FileError(path, f"cannot write: {_reason(exc)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp

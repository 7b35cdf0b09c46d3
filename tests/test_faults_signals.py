"""Interrupted and concurrent runs: SIGTERM leaves no scratch directory, no staged file, no mixed set;
two writers of one output set rename theirs one set after the other."""
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex (TeX Live) for a PDF build to interrupt")
def test_sigterm_during_the_pdf_build_cleans_up_and_keeps_the_old_set(tmp_path):
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    out.mkdir()
    old = {"notes.tex": b"old tex", "notes.pdf": b"old pdf", "notes.log": b"old log"}
    for name, data in old.items():
        (out / name).write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)}
    proc = subprocess.Popen([sys.executable, "-m", "symbp", "notes", "2-2-1", "-o", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # the scratch directory of the LaTeX build exists once the .tex is rendered
        started = _wait_for(lambda: any(scratch.glob("symbp-notes-*/notes.tex")), timeout=120)
        assert started, "the PDF build never started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"Traceback" not in err
    assert list(scratch.iterdir()) == []                       # the scratch directory went
    assert sorted(p.name for p in out.iterdir()) == sorted(old)   # nothing staged is left
    assert {name: (out / name).read_bytes() for name in old} == old  # the old set, whole


def _writer(out: Path, tag: str) -> subprocess.Popen:
    code = ("import sys; from pathlib import Path; from symbp.files import write_many; "
            "out = Path(sys.argv[1]); tag = sys.argv[2].encode(); "
            "write_many({out / 'notes.tex': tag, out / 'notes.pdf': tag, out / 'notes.log': tag})")
    return subprocess.Popen([sys.executable, "-c", code, str(out), tag],
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_writer_waits_while_another_renames_its_set_into_the_directory(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)       # another symbp process is renaming its set
        proc = _writer(tmp_path, "B")
        try:
            assert not _wait_for(lambda: proc.poll() is not None, timeout=1.5), "did not wait for the lock"
            assert not (tmp_path / "notes.tex").exists()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    assert proc.wait(timeout=60) == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == dict.fromkeys(
        ["notes.tex", "notes.pdf", "notes.log"], b"B")


def test_two_writers_at_once_leave_one_whole_set(tmp_path):
    for _ in range(3):
        procs = [_writer(tmp_path, tag) for tag in ("A", "B")]
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
        contents = {p.read_bytes() for p in tmp_path.iterdir()}
        assert len(contents) == 1, contents
        assert not list(tmp_path.glob(".*.tmp"))


def test_a_reader_that_leaves_early_is_not_an_error():
    """`symbp derive ... --all | head -1`: the broken pipe ends the run quietly, exit 0 (it is an OSError too)."""
    proc = subprocess.Popen([sys.executable, "-m", "symbp", "derive", "40-40-40", "--all"],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()                       # the reader leaves long before the output ends
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert first.startswith(b"Network 40-40-40") and err == b""

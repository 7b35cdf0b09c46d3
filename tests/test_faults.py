"""File faults: every bad path is one line `symbp: error: PATH: reason`, exit 2, nothing written, no hang."""
import errno
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from symbp import cli
from symbp.errors import FileError, SpecError
from symbp.files import MAX_SPEC_BYTES, read_text, write_atomic, write_many
from symbp.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0
SPEC = '[network]\nlayers = [2, 2, 1]\nactivations = "tanh"\n'


def run(*args, cwd, stdin=None, timeout=120):
    """A real `python -m symbp`; a hang fails the test (TimeoutExpired) instead of hanging CI."""
    return subprocess.run([sys.executable, "-m", "symbp", *args], capture_output=True, text=True, cwd=cwd,
                          input=stdin, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


def one_line_error(r, path: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"symbp: error: {path}: "), lines[0]
    return lines[0]


# -- output paths ------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("keep")
    os.mkfifo(tmp_path / "fifo")
    os.symlink("loop", tmp_path / "loop")
    return tmp_path


@pytest.mark.parametrize("out,reason", [
    ("adir", "got a directory"), ("", "empty string"), ("afile/grad.py", "not a directory"),
    ("fifo", "got a FIFO"), ("loop", "symbolic links"),
])
def test_export_bad_output_path(tree, out, reason):
    before = sorted(p.name for p in tree.iterdir())
    r = run("export", "2-2-1", "-o", out, cwd=tree)
    assert reason in one_line_error(r, out or "''")
    assert sorted(p.name for p in tree.iterdir()) == before
    assert stat.S_ISFIFO(os.stat(tree / "fifo").st_mode) and (tree / "afile").read_text() == "keep"


@pytest.mark.parametrize("out,reason", [("afile", "got a file"), ("", "empty string"), ("afile/sub", "not a directory")])
def test_notes_bad_output_dir(tree, out, reason):
    r = run("notes", "2-2-1", "--no-pdf", "-o", out, cwd=tree)
    assert reason in one_line_error(r, out or "''")
    assert (tree / "afile").read_text() == "keep"


@pytest.mark.skipif(ROOT_USER, reason="root writes into a read-only directory")
def test_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert "not writable" in one_line_error(run("export", "2-2-1", "-o", "ro/g.py", cwd=tmp_path), "ro/g.py")
        assert "not writable" in one_line_error(run("notes", "2-2-1", "-o", "ro", cwd=tmp_path), "ro")
    finally:
        ro.chmod(0o755)


def test_read_only_directory_in_process(tmp_path, monkeypatch):
    """As root (CI containers) a chmod cannot make a directory read-only: fail mkstemp as EROFS does."""
    target = tmp_path / "g.py"

    def erofs(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr("tempfile.mkstemp", erofs)
    with pytest.raises(FileError, match="read-only file system"):
        write_atomic(target, b"x")
    assert not target.exists()


def test_output_checked_before_deriving(tree, monkeypatch, capsys):
    def no_derive(*a, **k):
        raise AssertionError("derived before checking -o")
    monkeypatch.setattr(cli, "derive", no_derive)
    assert cli.main(["export", "2-2-1", "-o", str(tree / "adir")]) == 2
    assert cli.main(["notes", "2-2-1", "-o", str(tree / "afile")]) == 2
    assert capsys.readouterr().err.count("symbp: error: ") == 2


def test_enospc_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, capsys):
    old = tmp_path / "grad.py"
    old.write_text("old")

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "write", full)
    assert cli.main(["export", "2-2-1", "-o", str(old)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"symbp: error: {old}: cannot write: no space left on device"
    assert old.read_text() == "old" and sorted(tmp_path.iterdir()) == [old]


def test_a_failed_rename_leaves_the_set_and_no_temporary(tmp_path, monkeypatch):
    a, b = tmp_path / "a.c", tmp_path / "a.h"
    a.write_text("old c")

    def refuse(src, dst):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(FileError, match=re.escape(str(a))):
        write_many({a: b"new c", b: b"new h"})
    assert a.read_text() == "old c" and sorted(tmp_path.iterdir()) == [a]


def test_write_many_refuses_a_non_regular_target_before_writing_any(tree):
    with pytest.raises(FileError, match="got a FIFO"):
        write_many({tree / "new.c": b"c", tree / "fifo": b"h"})
    assert not (tree / "new.c").exists() and stat.S_ISFIFO(os.stat(tree / "fifo").st_mode)


# -- input files -------------------------------------------------------------------------

@pytest.mark.parametrize("name,reason", [
    ("fifo", "got a FIFO"), ("/dev/zero", "got a device"), ("loop", "symbolic links"), ("adir", "got a directory"),
])
def test_spec_that_is_not_a_regular_file(tree, name, reason):
    r = run("derive", name, cwd=tree, timeout=60)
    assert reason in one_line_error(r, name)


@pytest.mark.parametrize("name,reason", [("fifo", "got a FIFO"), ("loop", "symbolic links"), ("absent", "no such")])
def test_answers_file_that_cannot_be_read(tree, name, reason):
    r = run("verify", "2-2-1", "--answers", name, cwd=tree, timeout=60)
    assert reason in one_line_error(r, name)


@pytest.mark.skipif(ROOT_USER, reason="root reads a mode-000 file")
def test_unreadable_answers_file(tmp_path):
    p = tmp_path / "answers.toml"
    p.write_text('[[answer]]\nparam = "w2_1_1"\nexpr = "1"\n')
    p.chmod(0)
    assert "permission denied" in one_line_error(run("verify", "2-2-1", "--answers", p.name, cwd=tmp_path),
                                                 p.name)


def test_oversized_spec_is_refused_without_reading_it_all(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text(SPEC + "#" * MAX_SPEC_BYTES + "\n")
    assert "larger than 1,000,000 bytes" in one_line_error(run("derive", big.name, cwd=tmp_path), big.name)
    with pytest.raises(SpecError):
        load_spec(big)


def test_not_utf8(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(b'title = "caf\xe9"\n' + SPEC.encode())
    with pytest.raises(FileError, match="expected UTF-8 text"):
        read_text(p)


def test_missing_spec_keeps_its_hint(tmp_path):
    r = run("derive", "absent.toml", cwd=tmp_path)
    assert "layer string such as 2-3-1" in one_line_error(r, "absent.toml")


# -- the C header guard --------------------------------------------------------------------

@pytest.mark.slow
def test_c_export_named_with_a_leading_digit_compiles(tmp_path):
    r = run("export", "2-2-1", "-o", "3net.c", "--target", "c", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    header = (tmp_path / "3net.h").read_text()
    assert "#ifndef SYMBP_3NET_H" in header and "#define SYMBP_3NET_H" in header
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    done = subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-fsyntax-only", "3net.c"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

"""core.fileio.atomic_path: a file appears whole or not at all, and is never replaced unless asked."""

import os
import stat

import pytest

from headforge.core.fileio import atomic_path


def test_success_renames_into_place_without_leftovers(tmp_path):
    target = tmp_path / "sub" / "albedo.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".albedo.") and tmp.suffix == ".png"
        assert not target.exists()  # nothing is visible under the final name while writing
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(target.parent) == ["albedo.png"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "mesh.obj"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["mesh.obj"]


def test_no_overwrite_refuses_before_any_work(tmp_path):
    target = tmp_path / "fit.json"
    target.write_text("user's")
    with pytest.raises(FileExistsError):
        with atomic_path(target, overwrite=False):
            pytest.fail("the block must not run")
    assert target.read_text() == "user's" and os.listdir(tmp_path) == ["fit.json"]


def test_new_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644  # not mkstemp's private 0600

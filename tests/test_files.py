"""Files hrlib writes: atomically, with the permissions a user expects, through symlinks, never over devices."""

import json
import os
import stat

import pytest

from hrlib.errors import OutputError
from hrlib.files import atomic_dir, locked, write_text


def test_a_written_file_gets_the_umask_or_keeps_the_mode_it_replaces(tmp_path):
    old = os.umask(0o022)
    try:
        fresh = write_text(tmp_path / "t.csv", "a")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # not the 0600 of a temporary file
        shared = tmp_path / "shared.md"
        shared.write_text("x")
        shared.chmod(0o664)
        write_text(shared, "y")
        assert stat.S_IMODE(shared.stat().st_mode) == 0o664 and shared.read_text() == "y"
        with atomic_dir(tmp_path / "zoo", "zoo") as tmp:
            (tmp / "f").write_text("z")
        assert stat.S_IMODE((tmp_path / "zoo").stat().st_mode) == 0o755
    finally:
        os.umask(old)


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    target = tmp_path / "results.md"
    target.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_device_is_never_replaced_by_a_file():
    with pytest.raises(OutputError, match="/dev/null: not a regular file"):
        write_text("/dev/null", "x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_only_a_folder_marked_as_hrlibs_of_that_kind_is_removed(tmp_path):
    from hrlib.files import claim_dir, remove_owned

    users = tmp_path / "notes"
    users.mkdir()
    (users / "week.txt").write_text("a week of notes")
    claim_dir(tmp_path / "run", "run")
    for folder, kind in ((users, "build"), (tmp_path / "run", "build")):
        with pytest.raises(OutputError, match="hrlib never removes it"):
            remove_owned(folder, kind)
    assert (users / "week.txt").read_text() == "a week of notes" and (tmp_path / "run").is_dir()
    claim_dir(tmp_path / "work", "build")
    remove_owned(tmp_path / "work", "build")
    assert not (tmp_path / "work").exists()


def test_a_lock_is_taken_only_through_files_hrlib_wrote(tmp_path):
    lock = tmp_path / ".zoo.lock"
    holder = tmp_path / ".zoo.lock.json"
    lock.write_text("a user's notes")
    with pytest.raises(OutputError, match="not an hrlib lock"):
        with locked(lock, "the zoo"):
            pass
    assert lock.read_text() == "a user's notes"  # neither emptied nor removed
    lock.unlink()
    holder.write_text('{"a": "user\'s settings"}')
    with pytest.raises(OutputError, match="not the record of an hrlib lock"):
        with locked(lock, "the zoo"):
            pass
    assert holder.read_text() == '{"a": "user\'s settings"}' and not lock.exists()
    # what a killed hrlib left, an empty lock and its record, is taken over and cleared
    lock.write_text("")
    holder.write_text('{"pid": 1, "host": "h", "command": "hrlib zoo create", "since": "2026-12-06 09:00:00"}')
    with locked(lock, "the zoo"):
        assert json.loads(holder.read_text())["pid"] == os.getpid()
    assert not lock.exists() and not holder.exists()

"""Tests of stride.utils.git_state: the per-repository git record written into a run directory."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stride.utils import git_state
from stride.utils.git_state import record_git_state

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=30)
    return done.stdout


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's and the system's git configuration out of the tests."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key, value in {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }.items():
        monkeypatch.setenv(key, value)


def _make_repo(path: Path, branch: str = "main") -> Path:
    """A repository with one commit of ``tracked.txt`` (two lines) on ``branch``."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", branch)
    (path / "tracked.txt").write_text("first line\nold line\n")
    _git(path, "add", "tracked.txt")
    _git(path, "commit", "-q", "-m", "initial")
    return path


class TestDirtyRepository:
    """A repository with an edited tracked file and an untracked file is recorded completely and re-appliably."""

    def test_hash_branch_status_and_diff_are_written(self, tmp_path: Path) -> None:
        repo = _make_repo(tmp_path / "myproject", branch="feature-x")
        (repo / "tracked.txt").write_text("first line\nnew line\n")
        (repo / "untracked.txt").write_text("scratch\n")
        head = _git(repo, "rev-parse", "HEAD").strip()
        out = tmp_path / "run"

        written = record_git_state([str(repo / "tracked.txt")], str(out))

        assert written == [str(out / "git" / "myproject.diff")]
        text = Path(written[0]).read_text()
        assert len(head) == 40
        assert f"# commit: {head}\n" in text
        assert "# branch: feature-x\n" in text
        assert f"# repository: {os.path.realpath(repo)}\n" in text
        assert "#    M tracked.txt\n" in text
        assert "#   ?? untracked.txt\n" in text
        assert "diff --git a/tracked.txt b/tracked.txt" in text
        assert "\n-old line\n+new line\n" in text
        assert "scratch" not in text  # untracked contents are not in `git diff HEAD`

    def test_diff_file_restores_the_edit_with_git_apply(self, tmp_path: Path) -> None:
        repo = _make_repo(tmp_path / "src")
        (repo / "tracked.txt").write_text("first line\nnew line\nthird\n")
        (written,) = record_git_state([str(repo)], str(tmp_path / "run"))
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, timeout=30)
        assert (clone / "tracked.txt").read_text() == "first line\nold line\n"

        _git(clone, "apply", written)

        assert (clone / "tracked.txt").read_text() == "first line\nnew line\nthird\n"

    def test_staged_changes_are_in_the_diff(self, tmp_path: Path) -> None:
        repo = _make_repo(tmp_path / "staged")
        (repo / "added.txt").write_text("brand new\n")
        _git(repo, "add", "added.txt")
        (written,) = record_git_state([str(repo)], str(tmp_path / "run"))
        text = Path(written).read_text()
        assert "#   A  added.txt\n" in text
        assert "+brand new\n" in text


class TestRepositorySelection:
    """Several paths map to one file per repository; equal folder names do not overwrite each other."""

    def test_paths_in_one_repository_write_one_file(self, tmp_path: Path) -> None:
        repo = _make_repo(tmp_path / "one")
        (repo / "sub").mkdir()
        (repo / "sub" / "mod.py").write_text("x = 1\n")
        written = record_git_state(
            [str(repo / "tracked.txt"), str(repo / "sub" / "mod.py"), str(repo / "sub")], str(tmp_path / "run")
        )
        assert written == [str(tmp_path / "run" / "git" / "one.diff")]
        assert sorted(os.listdir(tmp_path / "run" / "git")) == ["one.diff"]

    def test_same_folder_name_gets_a_suffix(self, tmp_path: Path) -> None:
        first = _make_repo(tmp_path / "a" / "lib")
        second = _make_repo(tmp_path / "b" / "lib")
        written = record_git_state([str(first), str(second)], str(tmp_path / "run"))
        assert [os.path.basename(path) for path in written] == ["lib.diff", "lib_2.diff"]
        assert f"# repository: {os.path.realpath(first)}\n" in Path(written[0]).read_text()
        assert f"# repository: {os.path.realpath(second)}\n" in Path(written[1]).read_text()

    def test_clean_repository_says_clean(self, tmp_path: Path) -> None:
        repo = _make_repo(tmp_path / "clean")
        (written,) = record_git_state([str(repo)], str(tmp_path / "run"))
        text = Path(written).read_text()
        assert "# (clean)\n" in text
        assert "diff --git" not in text

    def test_repository_without_commits(self, tmp_path: Path) -> None:
        repo = tmp_path / "fresh"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        (repo / "a.txt").write_text("a\n")
        (written,) = record_git_state([str(repo)], str(tmp_path / "run"))
        text = Path(written).read_text()
        assert "# commit: (no commit yet)\n" in text
        assert "# branch: main\n" in text
        assert "#   ?? a.txt\n" in text


class TestNeverRaises:
    """Non-repositories, a missing git, a slow git and an unwritable folder only warn."""

    def test_non_repository_warns_and_is_skipped(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        plain = tmp_path / "plain"
        plain.mkdir()
        repo = _make_repo(tmp_path / "real")
        with caplog.at_level(logging.WARNING, logger="stride.utils.git_state"):
            written = record_git_state([str(plain), str(tmp_path / "missing" / "x.py"), str(repo)], str(tmp_path / "r"))
        assert written == [str(tmp_path / "r" / "git" / "real.diff")]
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 2
        assert "not inside a git work tree" in messages[0]
        assert "does not exist" in messages[1]

    def test_missing_git_warns(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        repo = _make_repo(tmp_path / "real")
        monkeypatch.setattr(git_state.shutil, "which", lambda name: None)
        with caplog.at_level(logging.WARNING, logger="stride.utils.git_state"):
            written = record_git_state([str(repo)], str(tmp_path / "run"))
        assert written == []
        assert not (tmp_path / "run").exists()
        assert ["not on PATH" in record.getMessage() for record in caplog.records] == [True]

    def test_timeout_warns(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        repo = _make_repo(tmp_path / "real")

        def slow(*args: object, **kwargs: object) -> None:
            raise subprocess.TimeoutExpired(cmd="git", timeout=10.0)

        monkeypatch.setattr(git_state.subprocess, "run", slow)
        with caplog.at_level(logging.WARNING, logger="stride.utils.git_state"):
            written = record_git_state([str(repo)], str(tmp_path / "run"))
        assert written == []
        assert ["took longer than 10 s" in record.getMessage() for record in caplog.records] == [True]

    def test_unwritable_out_dir_warns(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        repo = _make_repo(tmp_path / "real")
        blocker = tmp_path / "file_not_dir"
        blocker.write_text("")
        with caplog.at_level(logging.WARNING, logger="stride.utils.git_state"):
            written = record_git_state([str(repo)], str(blocker))
        assert written == []
        assert ["Could not write the git state" in record.getMessage() for record in caplog.records] == [True]

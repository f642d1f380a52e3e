"""Records the git state (commit, branch, status, uncommitted diff) of the code a run was started from.

One file per repository, ``<out_dir>/git/<repo-name>.diff``, so a result can be traced back to the exact code,
uncommitted edits included. The text before the first ``diff --git`` line is commentary that ``git apply``
skips, so ``git checkout <commit> && git apply <file>`` restores the working tree of tracked files.

Only the ``git`` executable is used (no GitPython). Recording is best effort: a path outside any repository, a
missing ``git``, a slow or failing command or an unwritable folder gives a ``logging.warning``, never an
exception, because the run itself must not depend on it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime, timezone

__all__ = ["GIT_STATE_DIRNAME", "record_git_state"]

GIT_STATE_DIRNAME = "git"
"""Folder inside the run directory that holds the ``<repo-name>.diff`` files."""

_TIMEOUT_S = 10.0
_log = logging.getLogger(__name__)


class _GitError(Exception):
    """A git command failed, timed out or could not be started."""


def _git(repo: str, *args: str, git: str) -> str:
    """Run ``git -C repo args`` and return its stdout.

    Raises:
        _GitError: Non-zero exit, timeout, or the process could not start; the message carries stderr.
    """
    # GIT_OPTIONAL_LOCKS=0: `git status` must not take index.lock, so it never collides with the user's own git.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            [git, "-C", repo, *args],
            capture_output=True,
            timeout=_TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise _GitError(f"'git {' '.join(args)}' took longer than {_TIMEOUT_S:g} s") from error
    except OSError as error:
        raise _GitError(f"'git {' '.join(args)}' could not start: {error}") from error
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", errors="replace").strip()
        raise _GitError(f"'git {' '.join(args)}' exited with {done.returncode}: {stderr}")
    return done.stdout.decode("utf-8", errors="replace")


def _repo_root(path: str, git: str) -> str | None:
    """Return the top folder of the work tree holding ``path``, or ``None`` (after a warning) when there is none."""
    start = path if os.path.isdir(path) else os.path.dirname(path) or "."
    if not os.path.isdir(start):
        _log.warning("No git state recorded for %r: the path does not exist.", path)
        return None
    try:
        return os.path.realpath(_git(start, "rev-parse", "--show-toplevel", git=git).strip())
    except _GitError as error:
        _log.warning("No git state recorded for %r: it is not inside a git work tree (%s).", path, error)
        return None


def _describe(root: str, git: str) -> str:
    """Build the text of one ``.diff`` file: header comments, ``git status --short``, then ``git diff HEAD``.

    Raises:
        _GitError: A command the file cannot do without (status) failed.
    """
    try:
        commit = _git(root, "rev-parse", "HEAD", git=git).strip()
    except _GitError:
        commit = "(no commit yet)"
    try:
        branch = _git(root, "symbolic-ref", "--short", "-q", "HEAD", git=git).strip()
    except _GitError:
        branch = "(detached HEAD)"
    status = _git(root, "status", "--short", git=git)
    if commit.startswith("("):
        diff = ""
    else:
        diff = _git(root, "--no-pager", "diff", "HEAD", "--no-color", "--no-ext-diff", git=git)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [
        f"# repository: {root}",
        f"# commit: {commit}",
        f"# branch: {branch}",
        f"# recorded: {stamp}",
        "# git status --short:",
        *(f"#   {line}" for line in status.splitlines()),
        "# (clean)" if not status.strip() else "# git diff HEAD follows (untracked files are listed above only).",
        "",
    ]
    return "\n".join(lines) + diff


def _unique_name(root: str, taken: set[str]) -> str:
    """File stem for ``root``: its folder name, suffixed ``_2``, ``_3``, ... when two repositories share it."""
    base = os.path.basename(root.rstrip(os.sep)) or "repository"
    name, index = base, 2
    while name in taken:
        name, index = f"{base}_{index}", index + 1
    taken.add(name)
    return name


def record_git_state(repo_paths: Sequence[str], out_dir: str) -> list[str]:
    """Write the git state of every repository holding one of ``repo_paths`` into ``<out_dir>/git/``.

    Each repository (found from any file or folder inside it; duplicates are written once) gets
    ``<out_dir>/git/<repo-name>.diff`` holding, as ``#`` comment lines, the repository path, the commit hash,
    the branch, the time and ``git status --short``; then the full ``git diff HEAD`` (staged and unstaged changes
    of tracked files). Every git call has a 10 s timeout.

    Args:
        repo_paths: Files or folders inside the repositories to record, e.g. ``[stride.__file__, __file__]``.
        out_dir: Run directory; ``git/`` is created inside it when there is something to write.

    Returns:
        The paths written, in the order of ``repo_paths``. A path outside any work tree, a missing ``git``
        executable, a failing or slow git command or a write error leaves that repository out after a
        ``logging.warning``; nothing is raised.
    """
    git = shutil.which("git")
    if git is None:
        if repo_paths:
            _log.warning("No git state recorded: the 'git' executable is not on PATH. Install git to record it.")
        return []
    roots: list[str] = []
    for path in repo_paths:
        root = _repo_root(os.fspath(path), git)
        if root is not None and root not in roots:
            roots.append(root)
    written: list[str] = []
    taken: set[str] = set()
    for root in roots:
        target = os.path.join(out_dir, GIT_STATE_DIRNAME, _unique_name(root, taken) + ".diff")
        try:
            text = _describe(root, git)
        except _GitError as error:
            _log.warning("No git state recorded for repository %s: %s", root, error)
            continue
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            _log.warning("Could not write the git state of %s to %s: %r", root, target, error)
            continue
        written.append(target)
    return written

"""Which code a result measured: the git commit and whether the tree was dirty.

Every result document carries ``git`` = ``{"commit", "dirty"}`` taken when the run started.
``python -m bench report`` publishes (README tables, ``latest.md``) only results from one
commit, measured on a clean tree: figures from different code never sit in one table.
"""

import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def git_info() -> dict[str, Any]:
    """The checked-out commit, and whether tracked or new files differ from it.

    Results and scratch files of the benchmark itself (``bench/results``, ``bench/.work``) do
    not make the tree dirty.
    """
    commit = _git("rev-parse", "HEAD") or None
    status = _git(
        "status",
        "--porcelain",
        "--",
        ".",
        ":(exclude)bench/results",
        ":(exclude)bench/.work",
    )
    return {"commit": commit, "dirty": bool(status) if commit else None}


def publish_problems(results: dict[str, dict[str, Any]], *, allow_dirty: bool = False) -> list[str]:
    """Why ``results`` (name -> result document) may not be published together; [] if fine."""
    problems = []
    commits: dict[str | None, list[str]] = {}
    for name, result in sorted(results.items()):
        git = result.get("git") or {}
        commits.setdefault(git.get("commit"), []).append(name)
        if git.get("dirty") and not allow_dirty:
            problems.append(f"{name}: measured on a dirty tree ({str(git.get('commit'))[:10]})")
    if len(commits) > 1:
        mixed = "; ".join(
            f"{(c or 'no commit recorded')[:10]}: {', '.join(names)}"
            for c, names in commits.items()
        )
        problems.append(f"results from more than one commit: {mixed}")
    return problems

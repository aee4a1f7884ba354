"""The curator's recent projects (index folder + database), last first, in one small JSON file
in the user data folder. Both front ends read it, so ``./scripts/run``, ``geomatch gui`` and
``geomatch demo`` agree on what "the last project" is."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from geomatch_app.core import files
from geomatch_app.core.paths import user_data_dir

log = logging.getLogger(__name__)

MAX_RECENT = 10


@dataclass(frozen=True)
class ProjectRef:
    """Where a project lives: a database and (optionally) the index it ranks against."""

    db: str
    index: str = ""

    @property
    def label(self) -> str:
        index = Path(self.index).name if self.index else "no index"
        return f"{index} · {Path(self.db).name}"


def recent_file() -> Path:
    return user_data_dir() / "recent-projects.json"


def recent_projects() -> list[ProjectRef]:
    """Recent projects, last first; ones whose database is gone are left out. An unreadable
    file is logged and treated as empty (it only remembers paths)."""
    try:
        raw = json.loads(recent_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable list of recent projects (%s); starting a new one",
                    recent_file(), exc)
        return []
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("db"), str):
            ref = ProjectRef(item["db"], str(item.get("index") or ""))
            if Path(ref.db).exists():
                out.append(ref)
    return out


def last_project() -> ProjectRef | None:
    projects = recent_projects()
    return projects[0] if projects else None


def remember(ref: ProjectRef) -> None:
    """Put ``ref`` first in the list (written atomically; a failure is logged, not raised)."""
    items = [ref] + [p for p in recent_projects() if p != ref]
    data = [{"db": p.db, "index": p.index} for p in items[:MAX_RECENT]]
    path = recent_file()
    try:
        files.write_text(path, json.dumps(data, indent=1))
    except OSError as exc:
        log.warning("%s: could not remember the project (%s)", path, exc)

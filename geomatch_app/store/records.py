"""Plain records the store returns. Rows become these dataclasses so callers (the GUI, the CLI)
never see SQL rows or cursors, and a record can cross threads freely."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

STATUSES = ("confirmed", "rejected", "skipped", "unsure", "none")  # none: not in the gallery
OPEN = "open"  # a query's status while it has no decision

T = TypeVar("T")


def from_row(cls: type[T], row: dict[str, Any]) -> T:
    """Build ``cls`` from a row dict, ignoring columns the record does not carry."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in row.items() if k in names})


@dataclass(frozen=True)
class GalleryRecord:
    id: int
    name: str
    root: str = ""
    source: str = ""
    credit: str = ""
    licence: str = ""
    created_at: str = ""
    n_images: int = 0


@dataclass(frozen=True)
class ImageRecord:
    id: int
    gallery_id: int
    path: str
    sha256: str = ""
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None
    place_id: str = ""
    source: str = ""
    credit: str = ""
    licence: str = ""
    size: int | None = None
    mtime_ns: int | None = None


@dataclass(frozen=True)
class QueryRecord:
    id: int
    path: str
    sha256: str = ""
    title: str = ""
    archive_id: str = ""
    date_text: str = ""  # as the archive wrote it: "1923", "c. 1920-1925"
    date_from: str | None = None  # ISO date, earliest plausible
    date_to: str | None = None  # ISO date, latest plausible
    notes: str = ""
    added_at: str = ""
    status: str = OPEN  # status of the current decision, or "open"
    place_text: str = ""  # the catalogue's free-text place ("Lund, Stortorget")
    lat: float | None = None  # known coordinates (catalogue or the photo's own EXIF GPS)
    lon: float | None = None
    unreadable: str = ""  # why the file cannot be read ('' when it can): not decidable
    assigned_to: str = ""  # the curator who is to decide it ('' = anyone)
    use_prior: bool = True  # the catalogue place narrows its ranking (app.prior)


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    weight_hash: str = ""
    card: str = ""
    fingerprint: str = "{}"
    created_at: str = ""


@dataclass(frozen=True)
class IndexRecord:
    id: int
    path: str
    model_id: int | None = None
    gallery_id: int | None = None
    n_images: int = 0
    created_at: str = ""
    fingerprint: str = "{}"


@dataclass(frozen=True)
class SuggestionRecord:
    id: int
    run_id: int
    rank: int
    score: float
    path: str
    image_id: int | None = None
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None
    place_id: str = ""
    p_match: float | None = None


@dataclass(frozen=True)
class SuggestionRun:
    """One search of one query by one model: its ranked candidates and location estimate."""

    id: int
    query_id: int
    model_id: int | None = None
    model_name: str = ""
    index_id: int | None = None
    est_lat: float | None = None
    est_lon: float | None = None
    est_radius_m: float | None = None
    est_confidence: float | None = None
    created_at: str = ""
    verdict: str = ""
    params: str = "{}"  # JSON: k, sigma_km, ... (what a re-use must match)
    suggestions: tuple[SuggestionRecord, ...] = ()


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    query_id: int
    status: str
    candidate_path: str | None = None
    image_id: int | None = None
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None
    curator: str = ""
    note: str = ""
    created_at: str = ""
    suggestion_id: int | None = None
    model_id: int | None = None
    model_name: str = ""
    rank: int | None = None
    deleted: int = 0  # 1 while undone; decisions are never removed
    precision_m: float | None = None  # radius of a hand placement
    placed: str = ""  # 'camera' or 'subject' for a hand placement
    p_match: float | None = None  # calibrated match probability shown when deciding

    @property
    def undone(self) -> bool:
        return bool(self.deleted)

    @property
    def is_point(self) -> bool:
        """A free map point rather than a gallery candidate."""
        return self.candidate_path is None and self.lat is not None


@dataclass(frozen=True)
class ReviewRecord:
    """A second curator's verdict on one decision."""

    id: int
    decision_id: int
    verdict: str  # 'accept' | 'dispute'
    reviewer: str = ""
    note: str = ""
    created_at: str = ""
    deleted: int = 0


@dataclass(frozen=True)
class EventRecord:
    id: int
    ts: str
    kind: str
    actor: str = ""
    query_id: int | None = None
    description: str = ""
    undoable: int = 0
    target_id: int | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One human-readable line of a query's history; ``str(entry)`` is the line."""

    event_id: int
    ts: str
    kind: str
    curator: str
    text: str
    state: str = ""  # for decisions: current / later changed / undone

    def __str__(self) -> str:
        line = f"{self.ts[:19].replace('T', ' ')}  {self.text}"
        return f"{line}, {self.state}" if self.state else line


@dataclass(frozen=True)
class Agreement:
    """What the curators say about one query: none / single / agree / conflict."""

    state: str
    decisions: dict[str, DecisionRecord] = field(default_factory=dict)  # curator -> latest
    summary: str = ""

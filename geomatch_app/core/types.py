"""Plain data passed between layers. No behaviour beyond trivial helpers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GeoTag:
    lat: float
    lon: float
    heading: float | None = None  # degrees clockwise from north, camera direction


@dataclass
class Photo:
    """One image known to geomatch: a gallery item or a query."""

    path: str
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None
    place_id: str = ""
    domain: str = ""
    split: str = ""

    @property
    def has_location(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass
class Candidate:
    """One ranked gallery photo for a query."""

    rank: int
    score: float
    path: str
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None
    place_id: str = ""
    distance_m: float | None = None  # distance to the location estimate, when known
    p_match: float | None = None  # calibrated P(same place) (training.calibration), when known

    def to_json(self) -> dict:
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "path": self.path,
            "lat": self.lat,
            "lon": self.lon,
            "heading": self.heading,
            "place_id": self.place_id,
            "p_match": None if self.p_match is None else round(float(self.p_match), 4),
        }


@dataclass
class Estimate:
    """A location estimate with its uncertainty (see geo.kde)."""

    lat: float
    lon: float
    radius_m: float
    confidence: float
    regions: dict = field(default_factory=dict)  # {"50": geojson, "90": geojson}

    def to_json(self) -> dict:
        return {
            "lat": self.lat,
            "lon": self.lon,
            "radius_m": self.radius_m,
            "confidence": self.confidence,
            "regions": self.regions,
        }


@dataclass
class TrainEvent:
    """One step of training, streamed to the terminal bar or the GUI curves."""

    epoch: int
    step: int
    total_steps: int
    losses: dict = field(default_factory=dict)
    val: dict = field(default_factory=dict)  # e.g. {"R@1": 0.4, "R@5": 0.7}
    eta_s: float | None = None
    message: str = ""

"""Where training pairs come from: a manifest, the curation store's confirmed pairs, and
unlabelled target-domain photos for MK-MMD.

Every source ends as a :class:`TrainSplit`: queries, a gallery, and per query the gallery items
that are positives and the ones that must never serve as negatives. The rules (papers A, C):
with coordinates on both sides a positive is within ``pos_m`` and a negative beyond ``neg_m``;
without, the same place_id is the positive. Place ids that end in a number (Nordland frames,
corridor positions) form a sequence, and ids within ``pos_frames`` / ``neg_frames`` steps are
positives / never negatives — neighbouring frames a few metres apart are not negatives.

Validation holds out *places*, never images: places are ordered (by sequence number, else by
position, else by name) and a contiguous block becomes the validation split, with a gap of
``neg_frames`` places dropped so no neighbour of a validation place is trained on.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geomatch_app.core.errors import GeomatchError, ManifestError
from geomatch_app.core.types import Photo
from geomatch_app.data.files import image_files
from geomatch_app.data.gallery import load_photos
from geomatch_app.geo.distance import haversine_m

log = logging.getLogger(__name__)

_SEQ = re.compile(r"^(.*?)(\d+)$")


@dataclass
class MatchRules:
    """Positive / negative thresholds. Paper C found 5 m positives best for training."""

    pos_m: float = 25.0
    neg_m: float = 25.0
    pos_frames: int = 0
    neg_frames: int = 0


@dataclass
class TrainSplit:
    """Queries and gallery with, per query, positive and non-negative gallery indices."""

    queries: list[Photo]
    gallery: list[Photo]
    positives: list[np.ndarray]
    non_negatives: list[np.ndarray]
    description: str = ""
    places: list[str] = field(default_factory=list)  # held places (for the model card)

    def __len__(self) -> int:
        return len(self.queries)

    def subset(self, idx: list[int] | np.ndarray) -> TrainSplit:
        """Keep only queries ``idx`` (the gallery stays)."""
        idx = [int(i) for i in idx]
        return TrainSplit([self.queries[i] for i in idx], self.gallery,
                          [self.positives[i] for i in idx], [self.non_negatives[i] for i in idx],
                          self.description, self.places)


@dataclass
class TrainData:
    train: TrainSplit
    val: TrainSplit
    source: str = ""

    @property
    def n_pairs(self) -> int:
        return sum(len(p) > 0 for p in self.train.positives)


# ---------------------------------------------------------------------------- sufficiency

MIN_TRAIN_PAIRS = 10  # fewer cannot teach the network anything but noise
MIN_VAL_QUERIES = 3  # held-out queries with a positive: fewer make the recall a coin toss


def check_sufficient(data: TrainData, min_pairs: int | None = None,
                     min_val: int = MIN_VAL_QUERIES) -> None:
    """Refuse to train when the data cannot show whether training helped.

    Raises a GeomatchError that says how many more pairs are needed: at least ``min_pairs``
    training queries with a positive, and ``min_val`` validation queries (on held-out places)
    with a positive in the validation gallery, since the new model is only offered when its
    validation recall beats the base model's.
    """
    need = max(1, MIN_TRAIN_PAIRS if min_pairs is None else int(min_pairs))
    have = data.n_pairs
    n_val = sum(len(p) > 0 for p in data.val.positives)
    if have >= need and n_val >= min_val:
        return
    more = max(0, need - have) + max(0, min_val - n_val)
    raise GeomatchError(
        f"only {have + n_val} pair{'s' * (have + n_val != 1)} with a positive ({have} for "
        f"training, {n_val} on held-out places for validation); training needs at least {need} "
        f"training pairs and {min_val} validation pairs to tell whether it helped",
        hint=f"confirm at least {more} more pair{'s' * (more != 1)} at other places "
        "(or give a manifest with more places)")


# ---------------------------------------------------------------------------- place keys


def seq_key(place_id: str) -> tuple[str, int] | None:
    m = _SEQ.match(place_id or "")
    return (m.group(1), int(m.group(2))) if m else None


def place_key(p: Photo) -> str:
    """The place a photo shows: its place_id, else its position rounded to ~10 m."""
    if p.place_id:
        return p.place_id
    if p.has_location:
        return f"{p.lat:.4f},{p.lon:.4f}"
    return ""


def _seq_ranks(ids: list[str]) -> dict[str, tuple[str, int]]:
    """Map each numbered place id to (prefix, rank among that prefix's numbers): Nordland ids
    step by 10 frames, and a tolerance counts places, not frame numbers."""
    by_prefix: dict[str, set[int]] = {}
    for pid in ids:
        k = seq_key(pid)
        if k:
            by_prefix.setdefault(k[0], set()).add(k[1])
    rank = {pre: {n: i for i, n in enumerate(sorted(nums))} for pre, nums in by_prefix.items()}
    out = {}
    for pid in ids:
        k = seq_key(pid)
        if k:
            out[pid] = (k[0], rank[k[0]][k[1]])
    return out


def match_sets(queries: list[Photo], gallery: list[Photo],
               rules: MatchRules) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(positives, non_negatives) gallery indices per query under ``rules``."""
    ranks = _seq_ranks([p.place_id for p in (*queries, *gallery) if p.place_id])
    g_lat = np.array([p.lat if p.has_location else np.nan for p in gallery], dtype=np.float64)
    g_lon = np.array([p.lon if p.has_location else np.nan for p in gallery], dtype=np.float64)
    g_pid = np.array([p.place_id for p in gallery], dtype=object)
    g_pre = np.array([ranks.get(p.place_id, ("\0", -10**9))[0] for p in gallery], dtype=object)
    g_rank = np.array([ranks.get(p.place_id, ("", -10**9))[1] for p in gallery], dtype=np.int64)
    positives, non_neg = [], []
    for q in queries:
        pos = np.zeros(len(gallery), dtype=bool)
        near = np.zeros(len(gallery), dtype=bool)
        if q.place_id:
            same = g_pid == q.place_id
            pos |= same
            near |= same
            if q.place_id in ranks:
                pre, r = ranks[q.place_id]
                steps = np.where(g_pre == pre, np.abs(g_rank - r), 10**9)
                pos |= steps <= rules.pos_frames
                near |= steps <= max(rules.neg_frames, rules.pos_frames)
        if q.has_location:
            has = ~np.isnan(g_lat)
            d = np.full(len(gallery), np.inf)
            if has.any():
                d[has] = haversine_m(q.lat, q.lon, g_lat[has], g_lon[has])
            pos |= d <= rules.pos_m
            near |= d <= max(rules.neg_m, rules.pos_m)
        positives.append(np.flatnonzero(pos))
        non_neg.append(np.flatnonzero(near | pos))
    return positives, non_neg


# ---------------------------------------------------------------------------- splitting


def _order_places(keys: list[str], photos: list[Photo]) -> list[str]:
    ranks = _seq_ranks(keys)
    pos: dict[str, tuple[float, float]] = {}
    for p in photos:
        if p.has_location:
            pos.setdefault(place_key(p), (p.lat, p.lon))

    def sort_key(k: str):
        if k in ranks:
            return (0, ranks[k][0], ranks[k][1], 0.0, k)
        if k in pos:
            return (1, "", 0, pos[k][0] + 1e-3 * pos[k][1], k)
        return (2, "", 0, 0.0, k)

    return sorted(keys, key=sort_key)


def split_places(queries: list[Photo], val_fraction: float = 0.2,
                 gap: int = 0) -> tuple[set[str], set[str]]:
    """(train places, validation places): the last contiguous ``val_fraction`` of the ordered
    query places is held out; ``gap`` places before it belong to neither."""
    keys = sorted({place_key(q) for q in queries if place_key(q)})
    ordered = _order_places(keys, queries)
    n_val = int(round(len(ordered) * val_fraction))
    if val_fraction > 0 and len(ordered) >= 2:
        n_val = min(max(n_val, 1), len(ordered) - 1)
    else:
        n_val = 0
    cut = len(ordered) - n_val
    val = set(ordered[cut:])
    train = set(ordered[: max(0, cut - gap)])
    return train, val


# ---------------------------------------------------------------------------- sources


def from_photos(queries: list[Photo], gallery: list[Photo], rules: MatchRules | None = None,
                val_fraction: float = 0.2, description: str = "",
                max_train_queries: int | None = None, seed: int = 0) -> TrainData:
    """Split queries by place; each split gets the gallery items that are not near the other
    split's queries (a held-out place's gallery photos are never trained on)."""
    rules = rules or MatchRules()
    labelled = [q for q in queries if place_key(q)]
    if not labelled:
        raise GeomatchError("no query has a place_id or a location", hint="training needs "
                            "queries with ground truth (place_id or lat/lon)")
    train_places, val_places = split_places(labelled, val_fraction, gap=rules.neg_frames)
    tq = [q for q in labelled if place_key(q) in train_places]
    vq = [q for q in labelled if place_key(q) in val_places]
    if max_train_queries and len(tq) > max_train_queries:
        rng = np.random.default_rng(seed)
        keep = sorted(rng.choice(len(tq), max_train_queries, replace=False))
        tq = [tq[i] for i in keep]
    # Gallery of the validation split: photos near validation queries; the training gallery
    # is everything else.
    v_pos, v_near = match_sets(vq, gallery, rules) if vq else ([], [])
    near_val = set(np.concatenate(v_near).tolist()) if v_near else set()
    val_g_idx = sorted(near_val)
    rest = [i for i in range(len(gallery)) if i not in near_val]
    # Validation retrieval runs against the validation places' gallery only, so it can be
    # scored quickly and honestly (no trained-on image inside it).
    val_gallery = [gallery[i] for i in val_g_idx]
    if vq and not val_gallery:
        val_gallery = [gallery[i] for i in rest]
    val = TrainSplit(vq, val_gallery, *match_sets(vq, val_gallery, rules),
                     description=description, places=sorted(val_places))
    train_gallery = [gallery[i] for i in rest]
    train = TrainSplit(tq, train_gallery, *match_sets(tq, train_gallery, rules),
                       description=description, places=sorted(train_places))
    n_without = sum(len(p) == 0 for p in train.positives)
    if n_without:
        log.info("%d training queries have no positive in the gallery; they are skipped",
                 n_without)
        keep_idx = [i for i, p in enumerate(train.positives) if len(p)]
        train = train.subset(keep_idx)
    return TrainData(train, val, description)


def from_manifest(path: str | Path, rules: MatchRules | None = None,
                  val_fraction: float = 0.2, max_train_queries: int | None = None,
                  seed: int = 0) -> TrainData:
    """Queries (split=query) and gallery (gallery/db) of a ../shared/data style manifest."""
    path = Path(path)
    queries = load_photos(path, role="query").photos
    gallery = load_photos(path, role="gallery").photos
    if not queries or not gallery:
        raise ManifestError(f"needs query and gallery rows (found {len(queries)} queries, "
                            f"{len(gallery)} gallery photos)", path,
                            "give a manifest with split=query and split=gallery rows")
    return from_photos(queries, gallery, rules, val_fraction, description=str(path),
                       max_train_queries=max_train_queries, seed=seed)


def from_store(store, gallery: list[Photo] | None = None, rules: MatchRules | None = None,
               val_fraction: float = 0.2, curator: str | None = None) -> TrainData:
    """Confirmed pairs of the curation store: each confirmed query is located where the curator
    put it (the confirmed candidate's position or a map point); its positives are gallery photos
    within ``pos_m`` of that location, the confirmed photo itself, or photos of the same place.

    ``gallery`` defaults to every gallery image in the store.
    """
    rules = rules or MatchRules()
    if gallery is None:
        gallery = [Photo(r.path, r.lat, r.lon, r.heading, r.place_id or "", "", "gallery")
                   for r in store.images()]
    by_path = {g.path: g for g in gallery}
    queries = []
    for q, d in store.confirmed(curator):
        conf = by_path.get(d.candidate_path or "")
        place = conf.place_id if conf is not None else ""
        lat, lon = d.lat, d.lon
        if lat is None and conf is not None:
            lat, lon = conf.lat, conf.lon
        if lat is None and not place:
            continue
        # Located queries are matched (and split into blocks) by position; the place id only
        # stands in when the confirmed photo has no coordinates.
        queries.append(Photo(q.path, lat, lon, d.heading, "" if lat is not None else place,
                             "query", "query"))
    if not queries:
        raise GeomatchError("the curation database has no confirmed pairs with a location",
                            getattr(store, "path", None),
                            "confirm some suggestions (or place queries on the map) first")
    if not gallery:
        raise GeomatchError("the curation database has no gallery images",
                            getattr(store, "path", None), "add a gallery first")
    where = getattr(store, "path", "")
    return from_photos(queries, gallery, rules, val_fraction,
                       description=f"{len(queries)} confirmed pairs in {where}")


def target_paths(src: str | Path | None) -> list[str]:
    """Unlabelled target-domain photos (for MK-MMD): every image of a folder, or every row of
    a manifest whatever its split (e.g. ../shared/data/old_photos)."""
    if not src:
        return []
    src = Path(src)
    if src.is_dir():
        return [str(p) for p in image_files(src)]
    if src.suffix.lower() == ".csv":
        with src.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
        out = [str((src.parent / r["path"]).resolve()) for r in rows if r.get("path")]
        return [p for p in out if Path(p).is_file()]
    raise ManifestError("is neither a folder nor a .csv manifest", src,
                        "give a folder of unlabelled photos or a manifest.csv")


def concat_splits(splits: list[TrainSplit], description: str = "") -> TrainSplit:
    """One split from several (e.g. one per dataset): galleries are concatenated and each
    split's positive / non-negative indices shifted by the galleries before it, so a query is
    never paired with another dataset's photos except as a negative."""
    queries, gallery, pos, non_neg, places = [], [], [], [], []
    for s in splits:
        off = len(gallery)
        queries += s.queries
        gallery += s.gallery
        pos += [p + off for p in s.positives]
        non_neg += [n + off for n in s.non_negatives]
        places += s.places
    return TrainSplit(queries, gallery, pos, non_neg, description, places)


def merge_data(parts: list[TrainData], description: str = "") -> TrainData:
    """Train on the union of several TrainData; validate on the union of their validation
    splits (see :func:`concat_splits`)."""
    desc = description or " + ".join(p.source for p in parts if p.source)
    return TrainData(concat_splits([p.train for p in parts], desc),
                     concat_splits([p.val for p in parts], desc), desc)

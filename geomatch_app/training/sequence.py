"""Sequence matching: rank one frame of a recording together with its neighbouring frames.

A frame of a film, a train or robot recording, or a walk photographed every few metres is
rarely recognisable alone when its gallery is another recording of the same route (Nordland
winter against summer, a corridor at another time): neighbouring gallery frames look alike and
the single-frame descriptor score barely separates them (default model: R@1 0.03 on Nordland,
0.41 on the corridor). SeqSLAM (Milford & Wyeth 2012) instead scores a gallery frame ``g`` for
query frame ``q`` by the similarities along the diagonal of the query × gallery matrix::

    S_seq(q, g) = 1/|O| · Σ_{o ∈ O} s(q + o, g + o),   O = {−h, …, h}  (velocity 1)

— the frames around ``q`` must match the frames around ``g`` in the same order. Terms whose
query or gallery frame does not exist (the ends of a recording) are left out of the mean.

Here each neighbouring query frame is searched through the index once (top ``K`` rows); a
gallery frame missing from frame ``o``'s top ``K`` counts with that frame's lowest returned
score, an upper bound of its true similarity, so the result equals the exact diagonal mean for
every centre whose terms are all within the top ``K`` and never under-rates a centre. The
ranking is then over the frames of the gallery's detected sequences (training.places).

Measured by ``benchmarks/calibrate.py`` (numbers in its JSON and the README): see
``DEFAULT_HALF``. Velocity is fixed at 1 (query and gallery sampled at the same spacing), as in
both shared sequence sets; a recording driven at another speed would need a velocity search.
"""

from __future__ import annotations

import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geomatch_app.training.places import WINDOW, detect_sequences

DEFAULT_HALF = 40  # 81 frames: the smallest measured window meeting the trust goals on both
# shared sequences (benchmarks/calibrate.py --sequence, README "Frames of a recording")
SHORTLIST = 256  # top-K searched per neighbouring frame
MIN_FRAMES = 3  # a sequence ranking needs at least this many readable frames
# The app shows candidates more than SPACING frames apart (places.WINDOW: frames closer than
# that show the same scene); without it the top 20 are the best frame and its neighbours, one
# stretch of the route shown 20 times. The top-1 and its margin over the next unrelated
# candidate (the calibration's features) are the same either way; `geomatch eval` ranks
# without spacing, so recall against exact frame ids can find the exact frame.
SPACING = WINDOW
# Exact scores: the candidates the shortlist picked are re-scored with the exact diagonal mean
# from the stored gallery descriptors. The order stays the shortlist's: its filled terms clip a
# frame's dissimilar outliers at the shortlist's last score, which ranks better (Nordland R@1 at
# ±15: 0.63, against 0.54 ranking every gallery frame by its exact mean, a dense check). The
# scores the calibration reads are exact: the margin of the exact score over the next unrelated
# candidate separates correct top-1s far better (Nordland top-1 AUROC 0.88 vs 0.77 with the
# filled scores; benchmarks/calibrate.py --sequence).

log = logging.getLogger(__name__)

_STEM = re.compile(r"^(?P<prefix>.*?)(?P<num>\d+)$")
_PLACE = re.compile(r"^(?P<prefix>.+)_(?P<num>\d+)$")


def _stem_frame(path: str | Path) -> tuple[str, int] | None:
    p = Path(path)
    m = _STEM.match(p.stem)
    return (str(p.parent / m.group("prefix")) + "|" + p.suffix.lower(), int(m.group("num"))) \
        if m else None


def neighbour_files(path: str | Path, half: int = DEFAULT_HALF) -> list[tuple[int, str]]:
    """(offset, file) of the frames around ``path`` in its folder, offset 0 the photo itself:
    files whose names differ only in their trailing frame number (``frame_0012.jpg``), at
    multiples of the folder's common number step. [] when the photo is not one of at least
    :data:`MIN_FRAMES` such frames with a regular step."""
    path = Path(path)
    me = _stem_frame(path)
    if me is None or not path.parent.is_dir():
        return []
    nums: dict[int, str] = {}
    try:
        for f in path.parent.iterdir():
            fr = _stem_frame(f)
            if fr is not None and fr[0] == me[0] and f.is_file():
                nums[fr[1]] = str(f)
    except OSError:
        return []
    if len(nums) < MIN_FRAMES:
        return []
    ordered = sorted(nums)
    gaps = np.diff(ordered)
    step = int(np.bincount(gaps[gaps > 0]).argmax()) if (gaps > 0).any() else 0
    if step <= 0:
        return []
    out = [(o, nums[me[1] + o * step]) for o in range(-half, half + 1) if me[1] + o * step in nums]
    return out if len(out) >= MIN_FRAMES else []


@dataclass
class GalleryOrder:
    """Where each gallery row sits in its sequence: ``keys[row]`` = sequence number · 2³² +
    frame index (−1: not a frame of a detected sequence)."""

    keys: np.ndarray  # (n,) int64

    @classmethod
    def from_place_ids(cls, place_ids: Sequence[str]) -> GalleryOrder:
        seqs = dict(detect_sequences(place_ids))
        sid = {p: i for i, p in enumerate(sorted(seqs))}
        keys = np.full(len(place_ids), -1, np.int64)
        for row, pid in enumerate(place_ids if seqs else ()):  # a photo gallery: none
            m = _PLACE.match(pid or "")
            if m and m.group("prefix") in seqs:
                keys[row] = (sid[m.group("prefix")] << 32) + int(m.group("num")) \
                    // seqs[m.group("prefix")]
        return cls(keys)

    @property
    def usable(self) -> bool:
        return bool((self.keys >= 0).sum() >= MIN_FRAMES)

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "_cache"):
            rows = np.nonzero(self.keys >= 0)[0]
            order = np.argsort(self.keys[rows], kind="stable")
            self._cache = (self.keys[rows][order], rows[order])
        return self._cache

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Gallery row of each key, −1 where no frame has it."""
        skeys, srows = self._sorted()
        if len(skeys) == 0:
            return np.full(len(keys), -1, np.int64)
        pos = np.clip(np.searchsorted(skeys, keys), 0, len(skeys) - 1)
        return np.where(skeys[pos] == keys, srows[pos], -1)


def combine(hits: dict[int, tuple[np.ndarray, np.ndarray]], order: GalleryOrder,
            k: int, spacing: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """The top-``k`` gallery rows by sequence score and their scores, and how many query frames
    took part. ``hits[o]`` = (row ids, scores) of the query frame at offset ``o`` (0 = the
    photo), as an index search returns them (ids < 0 ignored). Candidates are at least
    ``spacing`` frames apart (a frame within ``spacing`` of a better one is left out; 0: all
    frames, as recall against exact frame ids needs): see :data:`SPACING`."""
    cleaned = {}
    for o, (ids, scores) in hits.items():
        ids = np.asarray(ids, np.int64).ravel()
        scores = np.asarray(scores, np.float64).ravel()
        ok = ids >= 0
        if ok.any():
            cleaned[o] = (ids[ok], scores[ok])
    if not cleaned:
        return np.zeros(0, np.int64), np.zeros(0), 0
    centres = []
    for o, (ids, _s) in cleaned.items():
        keys = order.keys[ids]
        centres.append(keys[keys >= 0] - o)
    centre_keys = np.unique(np.concatenate(centres))
    centre_rows = order.rows_of(centre_keys)
    keep = centre_rows >= 0
    centre_keys, centre_rows = centre_keys[keep], centre_rows[keep]
    total = np.zeros(len(centre_keys))
    count = np.zeros(len(centre_keys))
    for o, (ids, scores) in cleaned.items():
        keys = order.keys[ids]
        srt = np.argsort(keys, kind="stable")
        skeys, sscores = keys[srt], scores[srt]
        target = centre_keys + o
        exists = order.rows_of(target) >= 0  # the gallery has the frame at this offset
        pos = np.clip(np.searchsorted(skeys, target), 0, len(skeys) - 1)
        vals = np.where(skeys[pos] == target, sscores[pos], scores.min())
        total += np.where(exists, vals, 0.0)
        count += exists
    seq = total / np.maximum(count, 1)
    top = _spaced(centre_keys, np.argsort(-seq, kind="stable"), k, spacing)
    return centre_rows[top], seq[top], len(cleaned)


def _spaced(keys: np.ndarray, ranked: np.ndarray, k: int, spacing: int) -> np.ndarray:
    """The first ``k`` of ``ranked`` whose keys are more than ``spacing`` from every kept one
    (keys of different sequences differ by 2³², so never clash)."""
    if spacing <= 0:
        return ranked[:k]
    kept: list[int] = []
    for i in ranked:
        key = keys[i]
        if all(abs(int(key) - int(keys[j])) > spacing for j in kept):
            kept.append(int(i))
            if len(kept) == k:
                break
    return np.array(kept, np.int64)


def exact_scores(descs: dict[int, np.ndarray], order: GalleryOrder, rows: np.ndarray,
                 vectors: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The exact diagonal mean (module docstring) of each gallery row in ``rows``, from the
    stored gallery descriptors (``vectors(ids)`` → (n, D)) instead of the shortlist's filled
    terms."""
    rows = np.asarray(rows, np.int64)
    if len(rows) == 0:
        return np.zeros(0)
    keys = order.keys[rows]
    offsets = sorted(descs)
    target = np.stack([order.rows_of(keys + o) for o in offsets], axis=1)  # (n, n_off)
    have = target >= 0
    uniq, inv = np.unique(target[have], return_inverse=True)
    vecs = vectors(uniq).astype(np.float64)
    q = np.stack([descs[o] for o in offsets]).astype(np.float64)  # (n_off, D)
    sims = np.zeros(target.shape)
    col = np.nonzero(have)[1]
    sims[have] = np.einsum("ij,ij->i", vecs[inv], q[col])
    return (sims * have).sum(axis=1) / np.maximum(have.sum(axis=1), 1)


def sequence_search(search: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]],
                    descs: dict[int, np.ndarray], order: GalleryOrder, k: int,
                    shortlist: int = SHORTLIST, spacing: int = 0,
                    vectors: Callable[[np.ndarray], np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`combine` over one search of every frame's descriptor (``descs[offset]``);
    ``search(matrix, K)`` returns (scores, ids) like a faiss index. With ``vectors`` (the
    gallery's stored descriptors by row) the returned scores are the exact diagonal means of
    the candidates (:func:`exact_scores`), the order stays that of the shortlist's: see
    the module's note on exact scores."""
    offsets = sorted(descs)
    scores, ids = search(np.stack([descs[o] for o in offsets]).astype(np.float32), shortlist)
    rows, seq, n = combine({o: (ids[i], scores[i]) for i, o in enumerate(offsets)}, order, k,
                           spacing)
    if vectors is not None:
        seq = exact_scores(descs, order, rows, vectors)
    return rows, seq, n


# -- labelled query sets (benchmarks/calibrate.py, geomatch eval --sequence) -----------------

def query_offsets(query_place_ids: Sequence[str], half: int = DEFAULT_HALF
                  ) -> list[dict[int, int]]:
    """For each query (by its place id ``name_<number>`` in a detected query sequence), the
    row in ``query_place_ids`` of the frame at each offset −half..half that exists; {} for a
    query that is not a frame of a sequence."""
    seqs = dict(detect_sequences(query_place_ids))
    where: dict[tuple[str, int], int] = {}
    frames = []
    for row, pid in enumerate(query_place_ids):
        m = _PLACE.match(pid or "")
        f = (m.group("prefix"), int(m.group("num"))) if m and m.group("prefix") in seqs else None
        frames.append(f)
        if f:
            where[f] = row
    out = []
    for f in frames:
        if f is None:
            out.append({})
            continue
        step = seqs[f[0]]
        found = {o: where[(f[0], f[1] + o * step)] for o in range(-half, half + 1)
                 if (f[0], f[1] + o * step) in where}
        out.append(found if len(found) >= MIN_FRAMES else {})
    return out


def exact_search(gdesc: np.ndarray, removed: np.ndarray | None = None
                 ) -> Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]:
    """A faiss-like exact inner-product search over ``gdesc`` (rows in ``removed`` never
    returned): what the benchmarks use in place of an index."""
    g = np.ascontiguousarray(gdesc, np.float32)

    def search(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = x @ g.T
        if removed is not None and removed.any():
            sims[:, removed] = -np.inf
        k = min(k, sims.shape[1])
        ids = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(sims, ids, axis=1)
        ids = np.where(np.isfinite(scores), ids, -1)
        return scores, ids

    return search


def without_rows(order: GalleryOrder, removed: np.ndarray) -> GalleryOrder:
    """The order of a gallery whose rows ``removed`` (bool mask) are gone."""
    return GalleryOrder(np.where(removed, -1, order.keys))


# -- one photo against an opened index (app.ranking) -----------------------------------------

_ORDERS: dict[tuple[int, str], GalleryOrder] = {}


def index_order(index) -> GalleryOrder:
    """The gallery order of an opened Index, read once per index version."""
    key = (id(index), str(getattr(index, "content_key", "")))
    if key not in _ORDERS:
        place_ids = index.column("place_id")
        _ORDERS.clear()  # one open index at a time in practice; keep memory bounded
        _ORDERS[key] = GalleryOrder.from_place_ids(place_ids)
    return _ORDERS[key]


_DESCS: OrderedDict[tuple, np.ndarray] = OrderedDict()
CACHE_FRAMES = 1024  # descriptors of recently ranked frames kept in memory (~5 MB at 1280-d)


def _frame_descriptors(index, paths: list[str], errors: list, progress=None) -> np.ndarray:
    """Descriptors of ``paths`` under the index's model; frames described for a neighbouring
    photo before (the curator walking through a film) are taken from memory, keyed by model
    weights, file, size and mtime."""
    model = str(index.fingerprint.get("weight_hash", "")) + str(index.fingerprint.get("name"))
    keys = []
    for p in paths:
        try:
            st = os.stat(p)
            keys.append((model, p, st.st_size, st.st_mtime_ns))
        except OSError:
            keys.append(None)
    todo = [i for i, key in enumerate(keys) if key is None or key not in _DESCS]
    fresh = index.embed_paths([paths[i] for i in todo], progress=progress,
                              errors=errors) if todo else None
    bad = {p for p, _r in errors}
    out = []
    for i, key in enumerate(keys):
        if i in todo:
            vec = fresh[todo.index(i)]
            if key is not None and paths[i] not in bad:
                _DESCS[key] = vec
                while len(_DESCS) > CACHE_FRAMES:
                    _DESCS.popitem(last=False)
        else:
            vec = _DESCS[key]
            _DESCS.move_to_end(key)
        out.append(vec)
    return np.stack(out)


_BASELINES: dict[tuple[int, str], float] = {}


def random_pair_cosine(index, pairs: int = 500) -> float:
    """Median cosine of random pairs of gallery photos (a fixed sample), once per index."""
    key = (id(index), str(getattr(index, "content_key", "")))
    if key not in _BASELINES:
        n = len(index)
        rng = np.random.default_rng(0)
        a, b = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
        keep = a != b
        va, vb = index.descriptors(a[keep]), index.descriptors(b[keep])
        _BASELINES.clear()
        _BASELINES[key] = float(np.median(np.sum(va * vb, axis=1))) if keep.any() else 1.0
    return _BASELINES[key]


def looks_like_a_recording(descs: dict[int, np.ndarray], index) -> bool:
    """Numbered files are not always frames (``IMG_0001.jpg`` … of unrelated scans): the
    median cosine between consecutive frames must exceed that of two random gallery photos.
    Measured with the default model: consecutive query files of the two recordings 0.93
    (corridor) and 0.78 (Nordland) against random gallery pairs 0.79 and 0.71; of the photo
    sets Fordham 0.56 vs 0.59 and the triplets 0.53 vs 0.55 (not recordings)."""
    offs = sorted(descs)
    sims = [float(descs[a] @ descs[b]) for a, b in zip(offs, offs[1:], strict=False)]
    return bool(sims) and float(np.median(sims)) > random_pair_cosine(index)


@dataclass
class SequenceRanking:
    candidates: list  # core.types.Candidate, scores = sequence scores
    frames: int  # query frames that took part (the photo included)
    first: str  # the first and last frame files, for the explanation
    last: str


def rank_frames(index, path: str, k: int, half: int = DEFAULT_HALF,
                progress=None) -> SequenceRanking | None:
    """The sequence ranking of ``path`` with the frames around it in its folder, or None when
    the photo has no neighbouring frames or the gallery holds no image sequence (the caller
    then ranks the photo alone). Unreadable neighbours are left out; an unreadable photo raises
    ImageError like a single-photo search."""
    from geomatch_app.core.errors import ImageError

    order = index_order(index)
    if not order.usable:
        return None
    frames = neighbour_files(path, half)
    if not frames:
        return None
    errors: list[tuple[str, str]] = []
    descs = _frame_descriptors(index, [f for _o, f in frames], errors, progress)
    bad = {p for p, _r in errors}
    if str(Path(path)) in bad or path in bad:
        err = ImageError(next(r for p, r in errors if p in (path, str(Path(path)))))
        err.path = path
        raise err
    use = {o: descs[i] for i, (o, f) in enumerate(frames) if f not in bad}
    if len(use) < MIN_FRAMES:
        return None
    if not looks_like_a_recording(use, index):
        log.info("%s: its numbered neighbours do not look like frames of one recording; "
                 "ranked alone", path)
        return None
    ids, scores, n = sequence_search(index.structure.search, use, order, k, spacing=SPACING,
                                     vectors=index.descriptors)
    cands = index.candidates(ids[None], scores[None])[0]
    kept = [f for o, f in frames if o in use]
    return SequenceRanking(cands, n, Path(kept[0]).name, Path(kept[-1]).name)

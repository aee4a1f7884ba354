"""A second curator's review (Label Studio style): accept or dispute another curator's decision,
and how far the two agree — per photo, and overall as Cohen's kappa on the shared decisions.

Cohen (1960): kappa = (p_o - p_e) / (1 - p_e), where p_o is the share of shared photos both
raters labelled alike and p_e = sum_k p1(k) * p2(k) the agreement expected by chance from each
rater's own label frequencies. Labels are decision statuses (confirmed / rejected / none /
unsure); two confirmations at different places (other candidate, or map points more than 50 m
apart) are a disagreement (the second is labelled "confirmed elsewhere"). Skips are not
opinions and are left out. The second rating of a photo is another curator's own decision when
there is one, else a review: "accept" repeats the first label, "dispute" is its own label.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from geomatch_app.core.errors import GeomatchError
from geomatch_app.store import Store
from geomatch_app.store.history import same_place
from geomatch_app.store.records import DecisionRecord, QueryRecord, ReviewRecord

ELSEWHERE = "confirmed elsewhere"
DISPUTED = "disputed"


@dataclass(frozen=True)
class ToReview:
    """A decision in force that ``reviewer`` did not make, with their verdict so far."""

    query: QueryRecord
    decision: DecisionRecord
    verdict: str = ""  # '' (not reviewed yet), 'accept' or 'dispute'
    note: str = ""


@dataclass(frozen=True)
class PhotoAgreement:
    path: str
    first: str  # curator of the decision in force first
    first_label: str
    second: str  # the other curator or the reviewer
    second_label: str
    via: str  # 'decision' or 'review'

    @property
    def agree(self) -> bool:
        return self.first_label == self.second_label


@dataclass
class AgreementReport:
    photos: list[PhotoAgreement] = field(default_factory=list)
    p_observed: float | None = None
    p_expected: float | None = None
    kappa: float | None = None  # None: no shared decisions, or chance agreement is 1

    def text(self) -> str:
        n = len(self.photos)
        if n == 0:
            return "No shared decisions yet: a second curator has to decide or review photos."
        agree = sum(p.agree for p in self.photos)
        line = f"{n} shared photos, {agree} agree (p_o = {self.p_observed:.2f})"
        if self.kappa is None:
            line += "; Cohen's kappa undefined (both raters used one label only)"
        else:
            line += f"; Cohen's kappa = {self.kappa:.3f} (chance p_e = {self.p_expected:.2f})"
        return line


def cohen_kappa(pairs: list[tuple[str, str]]) -> tuple[float, float, float | None]:
    """(p_o, p_e, kappa) of two raters' labels on the same items."""
    if not pairs:
        raise ValueError("kappa needs at least one shared item")
    n = len(pairs)
    p_o = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    p_e = sum(first[k] * second[k] for k in first) / (n * n)
    kappa = None if p_e >= 1.0 else (p_o - p_e) / (1.0 - p_e)
    return p_o, p_e, kappa


def to_review(store: Store, reviewer: str, *, statuses: tuple[str, ...] = ("confirmed", "none")
              ) -> list[ToReview]:
    """Decisions in force (confirmations and "none of these" by default) made by someone other
    than ``reviewer``, with ``reviewer``'s current verdict."""
    out = []
    for q in store.queries():
        d = store.current_decision(q.id)
        if d is None or d.status not in statuses or d.curator == reviewer:
            continue
        mine = [r for r in store.reviews(d.id) if r.reviewer == reviewer]
        last: ReviewRecord | None = mine[-1] if mine else None
        out.append(ToReview(q, d, last.verdict if last else "", last.note if last else ""))
    return out


def review(store: Store, decision_id: int, verdict: str, *, reviewer: str,
           note: str = "") -> int:
    """Record ``reviewer``'s verdict; a curator cannot review their own decision."""
    d = store.decision(decision_id)
    if reviewer and d.curator == reviewer:
        raise GeomatchError(f"{reviewer} made this decision; a review is a second curator's "
                            "opinion", store.query(d.query_id).path,
                            "set another curator name in Settings to review")
    try:
        return store.review(decision_id, verdict, reviewer=reviewer, note=note)
    except ValueError as exc:
        raise GeomatchError(str(exc)) from None


def agreement_report(store: Store) -> AgreementReport:
    """Per-photo agreement of the first curator with the second rating, and Cohen's kappa."""
    photos = []
    for q in store.queries():
        pa = _photo_agreement(store, q)
        if pa is not None:
            photos.append(pa)
    report = AgreementReport(photos)
    if photos:
        report.p_observed, report.p_expected, report.kappa = cohen_kappa(
            [(p.first_label, p.second_label) for p in photos])
    return report


def _photo_agreement(store: Store, q: QueryRecord) -> PhotoAgreement | None:
    latest: dict[str, DecisionRecord] = {}
    for d in store.decisions(q.id):
        if d.status == "skipped" or (d.status == "rejected" and d.candidate_path):
            continue
        latest.pop(d.curator, None)
        latest[d.curator] = d  # insertion order = order of each curator's current decision
    if not latest:
        return None
    first = min(latest.values(), key=lambda d: d.id)  # the earliest decision still in force
    others = [d for c, d in latest.items() if c != first.curator]
    if others:
        second = min(others, key=lambda d: d.id)
        label2 = second.status
        if first.status == second.status == "confirmed" and not same_place(first, second):
            label2 = ELSEWHERE
        return PhotoAgreement(q.path, first.curator, first.status, second.curator, label2,
                              "decision")
    reviews = [r for r in store.reviews(first.id) if r.reviewer != first.curator]
    if not reviews:
        return None
    r = reviews[-1]
    label2 = first.status if r.verdict == "accept" else DISPUTED
    return PhotoAgreement(q.path, first.curator, first.status, r.reviewer, label2, "review")

"""``geomatch review --db DB [--accept ID | --dispute ID] [--reviewer NAME]``: a second
curator's verdict on a decision, and the agreement report (per photo and Cohen's kappa)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("review", help="review another curator's decisions; agreement report",
                       description="Without --accept/--dispute: lists the decisions waiting "
                       "for REVIEWER's verdict and prints the agreement report.")
    p.add_argument("--db", required=True, help="curation database")
    p.add_argument("--reviewer", default="", help="the second curator's name")
    verdict = p.add_mutually_exclusive_group()
    verdict.add_argument("--accept", type=int, metavar="DECISION", help="accept decision ID")
    verdict.add_argument("--dispute", type=int, metavar="DECISION", help="dispute decision ID")
    p.add_argument("--note", default="", help="why (kept with the review)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geomatch_app.app import review
    from geomatch_app.store import Store

    with Store(args.db, create=False) as store:
        if args.accept is not None or args.dispute is not None:
            verdict = "accept" if args.accept is not None else "dispute"
            did = args.accept if args.accept is not None else args.dispute
            review.review(store, did, verdict, reviewer=args.reviewer, note=args.note)
            print(f"{verdict} decision {did}")
        else:
            for item in review.to_review(store, args.reviewer):
                mark = item.verdict or "to review"
                print(f"{item.decision.id:6d}  {mark:9s}  {item.decision.status:9s}  "
                      f"{item.decision.curator or '-':12s}  {item.query.path}")
        report = review.agreement_report(store)
        for ph in report.photos:
            sign = "agree" if ph.agree else "DIFFER"
            print(f"  {sign:6s}  {ph.first}: {ph.first_label} / {ph.second}: "
                  f"{ph.second_label} ({ph.via})  {ph.path}")
        print(report.text())
    return 0

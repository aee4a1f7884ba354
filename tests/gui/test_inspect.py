"""The side-by-side view's evidence widgets: linked zoom/pan, overlay cleared while computing,
legend, verified correspondences, blend/swipe comparison and the verdict banner."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from geomatch_app.gui.inspect import HELP, SideBySide, VerdictBanner


def _image(w: int, h: int, colour: str = "gray") -> QImage:
    img = QImage(w, h, QImage.Format.Format_RGB888)
    img.fill(QColor(colour))
    return img


@pytest.fixture
def side(qtbot):
    w = SideBySide()
    qtbot.addWidget(w)
    w.resize(900, 500)
    w.show()
    qtbot.waitExposed(w)
    w.set_query("/q/query.jpg", _image(640, 480))
    w.set_candidate("candidate 1", _image(320, 240, "white"), path="/g/cand.jpg")
    return w


def test_photos_zoom_and_pan_together_until_unlinked(side) -> None:
    q, c = side.query_view, side.cand_view
    q.zoom(2.0)
    assert c.view_state()[0] == pytest.approx(q.view_state()[0], rel=1e-3)
    q.horizontalScrollBar().setValue(q.horizontalScrollBar().maximum())
    assert c.view_state()[1] == pytest.approx(q.view_state()[1], abs=0.02)
    assert c.view_state()[1] > 0.6  # panned right, in the candidate's own coordinates too
    side.link_box.setChecked(False)
    before = c.view_state()
    q.zoom(1.5)
    assert c.view_state() == pytest.approx(before)


def test_overlay_is_cleared_while_a_heatmap_is_computed(side) -> None:
    side.set_methods(["magnitude", "occlusion"], "magnitude")
    side.set_overlays(_image(640, 480, "red"), _image(320, 240, "red"))
    assert side.query_view.has_overlay() and side.cand_view.has_overlay()
    side.set_computing("occlusion")
    assert not side.query_view.has_overlay() and not side.cand_view.has_overlay()
    assert "computing occlusion" in side.status.text()
    assert side.select_method("occlusion")
    assert side.legend_row.isVisible() and side.legend_text.text() == HELP["occlusion"]
    assert side.select_method("none")
    assert not side.legend_row.isVisible()


def test_correspondences_are_requested_drawn_and_counted(side, qtbot) -> None:
    from geomatch_app.models.verify import Verification

    with qtbot.waitSignal(side.correspondences_requested, timeout=1000):
        assert side.set_view("matches")
    assert "verifying" in side.status.text()
    pts = np.column_stack([np.linspace(10, 600, 200), np.linspace(10, 470, 200)])
    v = Verification(200, 260, pts, pts / 2, (640, 480), (320, 240))
    side.set_correspondences(v, pair=("/q/other.jpg", "/g/cand.jpg"))  # stale: ignored
    assert side.match_view.lines == []
    side.set_correspondences(v, pair=side.pair())
    assert len(side.match_view.lines) == side.match_view.MAX_LINES
    assert "200 verified correspondences" in side.status.text()
    line = side.match_view.lines[-1].line()
    # the last point sits at the far corner of both photos (candidate scaled to query height)
    assert line.x1() == pytest.approx(600) and line.y1() == pytest.approx(470)
    assert line.x2() == pytest.approx(640 + 8 + 600) and line.y2() == pytest.approx(470)
    side.set_correspondences(Verification(5, 9, pts[:5], pts[:5], (640, 480), (320, 240)))
    assert "too few" in side.status.text()
    # a new candidate clears the old lines and asks again
    with qtbot.waitSignal(side.correspondences_requested, timeout=1000):
        side.set_candidate("candidate 2", _image(320, 240), path="/g/other.jpg")
    assert side.match_view.lines == []


def test_blend_and_swipe_lay_the_candidate_over_the_query(side) -> None:
    cv = side.compare_view
    assert side.set_view("blend") and side.position.isVisible()
    side.position.setValue(30)
    assert cv.top.opacity() == pytest.approx(0.3)
    assert cv.top.pixmap().size() == cv.photo.pixmap().size()  # resized to the query
    assert not side.method.isEnabled()
    side.set_view("swipe")
    side.position.setValue(25)
    assert cv.top.pixmap().width() == 160 and cv.top.opacity() == 1.0
    assert cv.line.isVisible() and cv.line.line().x1() == 160
    side.set_view("side")
    assert side.method.isEnabled() and not side.position.isVisible()


def test_verdict_banner_says_it_in_words(qtbot) -> None:
    b = VerdictBanner()
    qtbot.addWidget(b)
    b.set_verdict("no_match", 0.12)
    assert b.text().startswith("No confident match in this gallery — the closest photos are "
                               "shown for reference")
    assert "12 %" in b.text() and not b.isHidden()
    b.set_verdict("match", 0.97)
    assert b.text().startswith("Confident match")
    b.set_verdict(None)
    assert "not calibrated" in b.text()


def test_window_draws_verified_correspondences_of_the_picked_candidate(qtbot, ranked_window):
    from PySide6.QtCore import Qt

    win = ranked_window
    qtbot.keyClick(win, Qt.Key.Key_1)
    side = win.inspect
    qtbot.waitUntil(lambda: side.cand_view.has_image(), timeout=10_000)
    assert side.set_view("matches")
    qtbot.waitUntil(lambda: side.inliers is not None, timeout=60_000)
    assert side.pair()[1] == win.inspect_panel.candidate.path
    assert len(side.match_view.lines) == min(side.inliers, side.match_view.MAX_LINES)
    assert "verified correspondences" in side.status.text()

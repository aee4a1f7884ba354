"""The side-by-side view with the shipped attention model: its context mask is the heatmap
offered first, labelled as such, and the computed mask is drawn over both photos."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from geomatch_app.gui.inspect import HELP, SideBySide  # noqa: E402


def test_the_trained_mask_is_offered_and_drawn(qtbot, shared_data):
    from geomatch_app.app import explain
    from geomatch_app.gui.images import colorize, load_qimage
    from geomatch_app.models import get_model

    model = get_model("effnetlite2-crn2-tuned").eval()
    q = str(shared_data / "opensfm_berlin_lund" / "images" / "lund_14.jpg")
    c = str(shared_data / "opensfm_berlin_lund" / "images" / "lund_13.jpg")
    side = SideBySide()
    qtbot.addWidget(side)
    side.resize(900, 500)
    side.show()
    qimg, cimg = load_qimage(q, max_side=640), load_qimage(c, max_side=640)
    side.set_query(q, qimg)
    side.set_candidate("candidate 1", cimg, path=c)
    methods = explain.heatmap_methods(model)
    side.set_methods(methods, explain.preferred_heatmap(methods, "magnitude"))
    assert side.current_method() == "crn-mask"
    assert side.method.currentText() == "CRN context mask"
    assert side.legend_text.text() == HELP["crn-mask"]
    maps = explain.heatmap_pair(model, "crn-mask", q, c)
    hq, hc = maps[(q, "", "crn-mask")], maps[(c, "", "crn-mask")]
    assert hq.max() > hq.min()  # a trained mask is not flat
    side.set_overlays(colorize(hq, (qimg.width(), qimg.height())),
                      colorize(hc, (cimg.width(), cimg.height())))
    assert side.query_view.has_overlay() and side.cand_view.has_overlay()

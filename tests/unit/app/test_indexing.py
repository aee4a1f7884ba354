"""app.indexing: a built index carries its gallery statistics, so the first query after a
build does not measure the gallery (~10 s and, before batching, 5 GB at a million photos)."""

from __future__ import annotations

from geomatch_app.app import indexing


def test_build_measures_the_gallery_statistics_once(tmp_path, tiny_model_name, shared_data,
                                                    one_torch_thread, monkeypatch):
    from geomatch_app.app.project import Project, attach_index
    from geomatch_app.app.ranking import gallery_stats
    from geomatch_app.training import calibration

    steps = []

    class Recorder:
        def step(self, done, total, msg=""):
            steps.append(msg)

        def check(self):
            pass

    index = indexing.build(shared_data / "opensfm_berlin_lund" / "manifest.csv",
                           tmp_path / "idx", model=tiny_model_name, device="cpu",
                           progress=Recorder())
    assert (tmp_path / "idx" / calibration.STATS_FILE).is_file()
    assert "measuring the gallery for the calibration" in steps
    built = calibration.index_gallery_stats(index)

    def measured_again(*_a, **_k):
        raise AssertionError("the gallery was measured again at the first ranking")

    monkeypatch.setattr(calibration, "index_unrelated_sims", measured_again)
    project = Project(None, device="cpu")
    attach_index(project, index)
    assert gallery_stats(project).mean == built.mean

"""sqlite-utils is imported without pandas (a ~1 s import the store never uses)."""

import importlib.util
import subprocess
import sys

import pytest


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None,
                    reason="pandas is not installed here (it comes with the scale extra)")
def test_the_store_does_not_import_pandas_but_pandas_stays_importable():
    code = ("import sys, geomatch_app.store, sqlite_utils.db as d\n"
            "print('pandas' in sys.modules, d.pd is None)\n"
            "import pandas\n"
            "print(pandas.Timestamp is not None)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == ["False", "True", "True"]

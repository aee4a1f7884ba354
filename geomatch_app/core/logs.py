"""Logging set-up: the terminal gets warnings (more with -v), a log file gets everything from
INFO up, with times, so a user can attach it to a bug report (Help → Open log folder in the
app; ``geomatch doctor`` prints the folder).

The file is ``geomatch.log`` in the platform's log folder (:func:`paths.user_log_dir`),
rotated at 2 MB with three old files kept, so it never grows without bound. Uncaught
exceptions are written to it too (the GUI has no terminal to show them).
"""

from __future__ import annotations

import logging
import logging.handlers
import platform
import sys
from pathlib import Path

from geomatch_app.core import paths

LOG_NAME = "geomatch.log"
_FILE_FORMAT = "%(asctime)s %(levelname)-7s %(process)d %(name)s: %(message)s"
_MARK = "_geomatch_handler"  # set on the handlers installed here, so a second call replaces them


def log_file() -> Path:
    return paths.user_log_dir() / LOG_NAME


def setup_logging(verbosity: int = 0, to_file: bool = True,
                  command: list[str] | None = None) -> Path | None:
    """Console handler at WARNING/INFO/DEBUG (verbosity 0/1/2) and, with ``to_file``, the
    rotating log file at INFO (DEBUG with -vv). Returns the log file (None when it cannot be
    written: the app still runs). Calling it again replaces the handlers installed before."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(h)
        h.close()
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(max(verbosity, 0), 2)]
    console = logging.StreamHandler()
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    setattr(console, _MARK, True)
    root.addHandler(console)
    root.setLevel(min(level, logging.INFO))
    path: Path | None = None
    if to_file:
        try:
            path = log_file()
            fh = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3,
                                                      encoding="utf-8")
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot write the log file: %s", exc)
            path = None
        else:
            fh.setLevel(min(level, logging.INFO))
            fh.setFormatter(logging.Formatter(_FILE_FORMAT))
            setattr(fh, _MARK, True)
            root.addHandler(fh)
            _log_header(sys.argv[1:] if command is None else command)
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _log_uncaught
    return path


def _log_header(command: list[str]) -> None:
    from geomatch_app import __version__

    logging.getLogger("geomatch").info(
        "geomatch %s, Python %s, %s; command: %s", __version__, platform.python_version(),
        platform.platform(), " ".join(command) or "(none)")


def _log_uncaught(exc_type, exc, tb) -> None:
    if not issubclass(exc_type, KeyboardInterrupt):
        logging.getLogger("geomatch").critical("uncaught exception", exc_info=(exc_type, exc, tb))
    sys.__excepthook__(exc_type, exc, tb)

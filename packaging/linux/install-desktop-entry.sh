#!/usr/bin/env sh
# Put the geomatch bundle in this user's desktop menu (freedesktop: GNOME, KDE, Xfce, ...).
# Run from the bundle: share/install-desktop-entry.sh   (remove with --uninstall)
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
APP="$(dirname "$HERE")/geomatch"
ID=io.github.geomatch.Geomatch
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$DATA/applications/$ID.desktop" "$DATA/metainfo/$ID.metainfo.xml" \
          "$DATA/icons/hicolor/256x256/apps/$ID.png"
    echo "geomatch: removed the menu entry"
    exit 0
fi
mkdir -p "$DATA/applications" "$DATA/metainfo" "$DATA/icons/hicolor/256x256/apps"
sed -e "s|^Exec=geomatch |Exec=\"$APP\" |" -e "s|^TryExec=geomatch|TryExec=$APP|" \
    "$HERE/$ID.desktop" >"$DATA/applications/$ID.desktop"
cp "$HERE/$ID.metainfo.xml" "$DATA/metainfo/"
cp "$HERE/$ID.png" "$DATA/icons/hicolor/256x256/apps/"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$DATA/applications" || true
echo "geomatch: added to the applications menu ($DATA/applications/$ID.desktop)"

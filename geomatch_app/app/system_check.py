"""Check this machine before the window opens, and say what to install.

Qt's xcb platform plugin needs X client libraries that minimal Linux installs lack
(libxcb-cursor0 above all). Without them Qt aborts the whole process with a message that names
a plugin, not a package. Here the plugin and QtWebEngine are run through ``ldd`` (no Qt is
loaded), every "not found" library is mapped to the package that ships it, and one install
line is printed: ``apt-get install …`` on Debian/Ubuntu, ``dnf install …`` on Fedora/RHEL,
``zypper``/``pacman`` names elsewhere, the library names otherwise. ``geomatch gui``/``demo``
(so ``scripts/run`` too) call :func:`qt_problem` first; ``geomatch doctor`` shows it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# soname → (Debian/Ubuntu, Fedora/RHEL, openSUSE, Arch) package names
PACKAGES: dict[str, tuple[str, str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "libxcb-cursor0",
                           "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "libxcb-keysyms1",
                            "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil",
                                "libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "libxcb-image0", "xcb-util-image"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11-0",
                              "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon0", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libX11-xcb1", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libX11-6", "libx11"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb1", "libxcb"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libEGL1", "libglvnd"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libGL1", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libOpenGL0", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "libfreetype6", "freetype2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "libdbus-1-3", "dbus"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "libglib-2_0-0", "glib2"),
    "libnss3.so": ("libnss3", "nss", "mozilla-nss", "nss"),
    "libnssutil3.so": ("libnss3", "nss-util", "mozilla-nss", "nss"),
    "libsmime3.so": ("libnss3", "nss", "mozilla-nss", "nss"),
    "libnspr4.so": ("libnspr4", "nspr", "mozilla-nspr", "nspr"),
    "libXcomposite.so.1": ("libxcomposite1", "libXcomposite", "libXcomposite1",
                           "libxcomposite"),
    "libXdamage.so.1": ("libxdamage1", "libXdamage", "libXdamage1", "libxdamage"),
    "libXrandr.so.2": ("libxrandr2", "libXrandr", "libXrandr2", "libxrandr"),
    "libXtst.so.6": ("libxtst6", "libXtst", "libXtst6", "libxtst"),
    "libXfixes.so.3": ("libxfixes3", "libXfixes", "libXfixes3", "libxfixes"),
    "libXext.so.6": ("libxext6", "libXext", "libXext6", "libxext"),
    "libxshmfence.so.1": ("libxshmfence1", "libxshmfence", "libxshmfence1", "libxshmfence"),
    "libasound.so.2": ("libasound2", "alsa-lib", "libasound2", "alsa-lib"),
    "libgbm.so.1": ("libgbm1", "mesa-libgbm", "libgbm1", "mesa"),
    "libdrm.so.2": ("libdrm2", "libdrm", "libdrm2", "libdrm"),
    "libxkbfile.so.1": ("libxkbfile1", "libxkbfile", "libxkbfile1", "libxkbfile"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor",
                               "libwayland-cursor0", "wayland"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client",
                               "libwayland-client0", "wayland"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl", "libwayland-egl1", "wayland"),
}
FAMILIES = {"debian": 0, "fedora": 1, "suse": 2, "arch": 3}
INSTALLERS = ("apt-get install -y", "dnf install -y", "zypper install", "pacman -S --needed")

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.M)
# a library that is there but unusable (truncated, wrong architecture) stops ldd with this
_BROKEN = re.compile(r"error while loading shared libraries: (\S+?): ")


def parse_ldd(output: str) -> list[str]:
    """Sonames that ``ldd`` reports as "not found" or broken, once each, in order."""
    seen: list[str] = []
    for name in _NOT_FOUND.findall(output) + [Path(n).name for n in _BROKEN.findall(output)]:
        if name not in seen:
            seen.append(name)
    return seen


def run_ldd(path: Path) -> str:
    """``ldd path`` output ('' when ldd is unavailable or fails)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    try:
        proc = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout + proc.stderr


def qt_platform() -> str:
    """The platform plugin Qt will load: QT_QPA_PLATFORM, else wayland in a Wayland session,
    else xcb (Qt's Linux default)."""
    want = os.environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if want:
        return want
    if os.environ.get("WAYLAND_DISPLAY") and os.environ.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def qt_binaries(platform: str) -> list[Path]:
    """The platform plugin and QtWebEngine files of the installed PySide6 (none if absent)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(list(spec.submodule_search_locations)[0]) / "Qt"
    files = [qt / "plugins" / "platforms" / f"libq{platform}.so",
             qt / "lib" / "libQt6WebEngineCore.so.6",
             qt / "libexec" / "QtWebEngineProcess"]
    return [f for f in files if f.is_file()]


def missing_qt_libraries(platform: str | None = None,
                         ldd: Callable[[Path], str] | None = None) -> list[str]:
    """System libraries Qt (platform plugin + WebEngine) needs and cannot find. Linux only;
    headless platforms (offscreen, minimal) need none of the X/Wayland libraries."""
    if not sys.platform.startswith("linux"):
        return []
    platform = platform or qt_platform()
    if platform not in ("xcb", "wayland"):
        return []
    ldd = ldd or run_ldd
    missing: list[str] = []
    for f in qt_binaries(platform):
        missing += [n for n in parse_ldd(ldd(f)) if n not in missing]
    return missing


def os_family(os_release: str | None = None) -> str | None:
    """debian / fedora / suse / arch from /etc/os-release (ID and ID_LIKE), None otherwise."""
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text(encoding="utf-8")
        except OSError:
            return None
    ids: list[str] = []
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            ids += value.strip().strip('"').lower().split()
    for ident in ids:
        for family, names in {"debian": ("debian", "ubuntu"), "fedora": ("fedora", "rhel",
                              "centos"), "suse": ("suse", "opensuse"),
                              "arch": ("arch",)}.items():
            if any(ident == n or ident.startswith(n) for n in names):
                return family
    return None


def install_hint(missing: list[str], family: str | None) -> str:
    """One line a user can paste: the package manager command, or the library names."""
    if family in FAMILIES:
        col = FAMILIES[family]
        pkgs: list[str] = []
        unknown: list[str] = []
        for so in missing:
            if so in PACKAGES:
                if PACKAGES[so][col] not in pkgs:
                    pkgs.append(PACKAGES[so][col])
            else:
                unknown.append(so)
        sudo = "" if getattr(os, "geteuid", lambda: 1)() == 0 else "sudo "
        line = f"{sudo}{INSTALLERS[col]} {' '.join(pkgs)}" if pkgs else ""
        if unknown:
            line += ("; also " if line else "install the packages providing ") + " ".join(unknown)
        return line
    return ("install your system's packages providing " + " ".join(missing)
            + " (on Debian/Ubuntu: apt-get install "
            + " ".join(dict.fromkeys(PACKAGES[s][0] for s in missing if s in PACKAGES)) + ")")


def qt_problem(ldd: Callable[[Path], str] | None = None, os_release: str | None = None) -> str:
    """'' when Qt can start here, else a message naming the missing libraries and the fix."""
    platform = qt_platform()
    missing = missing_qt_libraries(platform, ldd)
    if not missing:
        return ""
    return (f"geomatch: the window cannot open: Qt's {platform} display plugin needs system "
            f"libraries that are not installed ({', '.join(missing)}).\n"
            f"  Fix: {install_hint(missing, os_family(os_release))}\n"
            "  (or run without a window: geomatch demo --no-gui / geomatch query)")

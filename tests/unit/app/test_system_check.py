"""The Qt library check: a missing libxcb-cursor0 gives the install line, not Qt's abort."""

from __future__ import annotations

import pytest

from geomatch_app.app import system_check

LDD_MISSING_CURSOR = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'
FEDORA = 'NAME="Fedora Linux"\nID=fedora\n'


def test_parse_ldd_lists_each_missing_library_once():
    assert system_check.parse_ldd(LDD_MISSING_CURSOR) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    assert system_check.parse_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []
    broken = ("/x/libqxcb.so: error while loading shared libraries: "
              "/lib/x86_64-linux-gnu/libxcb-cursor.so.0: file too short\n")
    assert system_check.parse_ldd(broken) == ["libxcb-cursor.so.0"]


def test_os_family():
    assert system_check.os_family(UBUNTU) == "debian"
    assert system_check.os_family(FEDORA) == "fedora"
    assert system_check.os_family('ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"') == "suse"
    assert system_check.os_family("ID=gentoo") is None


def test_install_hint_per_system(monkeypatch):
    monkeypatch.setattr(system_check.os, "geteuid", lambda: 1000)
    missing = ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    assert system_check.install_hint(missing, "debian") == \
        "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4"
    assert system_check.install_hint(missing, "fedora") == \
        "sudo dnf install -y xcb-util-cursor xcb-util-wm"
    assert system_check.install_hint(["libfoo.so.1"], "debian") == \
        "install the packages providing libfoo.so.1"
    other = system_check.install_hint(missing, None)
    assert "libxcb-cursor.so.0" in other and "libxcb-cursor0 libxcb-icccm4" in other


@pytest.mark.skipif(not system_check.qt_binaries("xcb"),
                    reason="PySide6's xcb plugin not installed")
def test_fake_lookup_missing_cursor_gives_apt_line(monkeypatch):
    monkeypatch.setattr(system_check.sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    seen = []

    def fake_ldd(path):
        seen.append(path.name)
        return LDD_MISSING_CURSOR if path.name == "libqxcb.so" else ""

    msg = system_check.qt_problem(ldd=fake_ldd, os_release=UBUNTU)
    assert "libqxcb.so" in seen and "libQt6WebEngineCore.so.6" in seen
    assert "libxcb-cursor.so.0" in msg
    assert "apt-get install -y libxcb-cursor0 libxcb-icccm4" in msg
    assert system_check.qt_problem(ldd=lambda p: "", os_release=UBUNTU) == ""


def test_headless_platforms_need_no_libraries(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    calls = []
    assert system_check.missing_qt_libraries(ldd=lambda p: calls.append(p) or "") == []
    assert calls == []


def test_gui_command_prints_the_fix_instead_of_starting_qt(monkeypatch, capsys):
    """`geomatch gui` on a machine without libxcb-cursor0: exit 3 and the apt-get line."""
    monkeypatch.setattr(system_check.sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(system_check, "qt_binaries",
                        lambda platform: [system_check.Path("libqxcb.so")])
    monkeypatch.setattr(system_check, "run_ldd", lambda path: LDD_MISSING_CURSOR)
    monkeypatch.setattr(system_check, "os_family", lambda os_release=None: "debian")
    from geomatch_app.cli import main

    assert main(["gui"]) == 3
    err = capsys.readouterr().err
    assert "apt-get install -y libxcb-cursor0 libxcb-icccm4" in err
    assert main(["doctor", "--qt"]) == 3

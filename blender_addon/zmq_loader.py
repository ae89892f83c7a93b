"""Find pyzmq inside Blender (no bpy needed).

Where it comes from, tried in order:
1. an importable ``zmq`` (Blender 4.2+ extensions install the bundled wheels; a Blender using a system Python
   such as Debian's sees ``python3-zmq``);
2. the legacy zip's ``_vendor/<wheel name>/`` folder that matches this Python and OS (Blender 3.x–4.1);
3. on Linux, the system ``dist-packages`` (``apt install python3-zmq``), appended after Blender's own paths.
"""
from __future__ import annotations

import importlib
import pathlib
import platform
import sys

VENDOR_DIR = pathlib.Path(__file__).resolve().parent / "_vendor"
SYSTEM_DIST_PACKAGES = ("/usr/lib/python3/dist-packages",)


class ZmqMissing(ImportError):
    """pyzmq could not be found; the message says how to get it."""


def _platform_word() -> str:
    if sys.platform.startswith("linux"):
        return "manylinux" if platform.machine() in ("x86_64", "AMD64") else "linux_" + platform.machine()
    if sys.platform == "win32":
        return "win_amd64"
    if sys.platform == "darwin":
        return "macosx"
    return sys.platform


def vendor_candidates(vendor_dir: pathlib.Path = VENDOR_DIR) -> list[pathlib.Path]:
    """Unpacked wheel folders in ``vendor_dir`` built for this CPython version and OS."""
    if not vendor_dir.is_dir():
        return []
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    word = _platform_word()
    return [d for d in sorted(vendor_dir.iterdir())
            if d.is_dir() and f"-{tag}-" in d.name and word in d.name]


def _try_import():
    try:
        return importlib.import_module("zmq")
    except ImportError:
        for name in [m for m in sys.modules if m == "zmq" or m.startswith("zmq.")]:
            del sys.modules[name]
        return None


def import_zmq():
    """The ``zmq`` module, from wherever it is available. Raises :class:`ZmqMissing`."""
    module = _try_import()
    if module is not None:
        return module
    for folder in vendor_candidates():
        sys.path.insert(0, str(folder))
        module = _try_import()
        if module is not None:
            return module
        sys.path.remove(str(folder))
    if sys.platform.startswith("linux"):
        for folder in SYSTEM_DIST_PACKAGES:
            if pathlib.Path(folder, "zmq").is_dir() and folder not in sys.path:
                sys.path.append(folder)
                module = _try_import()
                if module is not None:
                    return module
                sys.path.remove(folder)
    raise ZmqMissing(
        f"pyzmq is not available to Blender's Python {platform.python_version()}; install the gan3d extension zip "
        "for your platform (it bundles pyzmq), or on Linux with a system Python run `apt install python3-zmq`")

"""Reading the original release's pickled files without executing code (an allow-list unpickler).

The original stores ``detections.npy`` (a pickled numpy object array of dicts), the per-image pseudo-GT
``<i>.npz`` files (a pickled dict of tensors under key ``data``), ``poses_metadata_<mode>.npz`` and the
``torch.save`` files (``*.bin``, ``*.pth``). A pickle can name any Python callable and call it while loading, so
a naive ``np.load(allow_pickle=True)`` or ``torch.load`` of a file from elsewhere runs whatever it says. Here:

* :class:`SafeUnpickler` resolves only the globals of :data:`ALLOWED` (numpy arrays and scalars, ``OrderedDict``,
  torch tensors); dicts, lists, tuples, strings, bytes and numbers need no global. Anything else raises
  :class:`UnsafePickleError` naming the file and the global, before anything is called.
* A tensor pickled with plain ``pickle`` carries its storage as nested ``torch.save`` bytes
  (``torch.storage._load_from_bytes``); those bytes are read with ``torch.load(weights_only=True)``, torch's own
  allow-list unpickler, never with the original function.
* ``torch.save`` files are read with ``torch.load(weights_only=True)`` and its refusals are reported the same way.

Public API: :func:`load_npy`, :func:`load_npz_pickled`, :func:`load_torch_file`, :func:`loads`, errors
:class:`UpstreamFileError` and :class:`UnsafePickleError`.
"""
from __future__ import annotations

import io
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


class UpstreamFileError(ValueError):
    """A file of the original release is missing, damaged or not in the expected layout (one line naming it)."""


class UnsafePickleError(UpstreamFileError):
    """A pickle names a global outside the allow-list; nothing in it was executed."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes; only the latin-1 codec is accepted."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") not in ("latin1", "iso88591"):
        raise UnsafePickleError(f"_codecs.encode called with {type(text).__name__} / {encoding!r}")
    return text.encode("latin1")


def _storage_from_bytes(data: bytes) -> Any:
    """The nested ``torch.save`` bytes of a pickled tensor's storage, read with weights_only=True."""
    import torch

    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError(f"torch.storage._load_from_bytes called with {type(data).__name__}")
    return torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)


def _numpy(module: str, name: str) -> Any:
    import importlib

    for candidate in (module, module.replace("numpy.core", "numpy._core"), module.replace("numpy._core", "numpy.core")):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise UnsafePickleError(f"{module}.{name} is not available in this numpy")


def _torch(module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)


#: (module, name) -> how to resolve it. Only constructors of plain data.
ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy,
    ("numpy._core.multiarray", "_reconstruct"): _numpy,
    ("numpy.core.multiarray", "scalar"): _numpy,
    ("numpy._core.multiarray", "scalar"): _numpy,
    ("numpy", "ndarray"): _numpy,
    ("numpy", "dtype"): _numpy,
    ("collections", "OrderedDict"): lambda m, n: __import__("collections").OrderedDict,
    ("_codecs", "encode"): lambda m, n: _latin1_encode,
    ("torch._utils", "_rebuild_tensor"): _torch,
    ("torch._utils", "_rebuild_tensor_v2"): _torch,
    ("torch._utils", "_rebuild_parameter"): _torch,
    ("torch", "Size"): _torch,
    ("torch.storage", "_load_from_bytes"): lambda m, n: _storage_from_bytes,
}
#: numpy dtype classes (numpy.dtypes.Float32DType ...) that numpy >= 1.25 may name when pickling dtypes.
_DTYPE_CLASS = re.compile(r"^[A-Za-z0-9]+DType$")


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED` globals; ``source`` names the file in errors."""

    def __init__(self, handle, source: str) -> None:
        super().__init__(handle, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        resolve = ALLOWED.get((module, name))
        if resolve is None and module == "numpy.dtypes" and _DTYPE_CLASS.match(name):
            resolve = _numpy
        if resolve is None:
            raise UnsafePickleError(
                f"{self.source}: refused: the pickle names {module}.{name}, which is not plain data (allowed: numpy "
                f"arrays, torch tensors, dicts, lists, tuples, scalars); nothing in it was executed")
        return resolve(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: refused: the pickle uses persistent ids ({str(pid)[:40]}); "
                                "this is not a plain pickle (a torch.save file is read with load_torch_file)")


def loads(data: bytes, source: str) -> Any:
    """Unpickle ``data`` with the allow-list; errors name ``source``."""
    return _load(io.BytesIO(data), source)


def _load(handle, source: str) -> Any:
    try:
        return SafeUnpickler(handle, source).load()
    except UpstreamFileError:
        raise
    except pickle.UnpicklingError as exc:
        blocked = _blocked_global(exc)
        if blocked:  # the nested torch.load of a tensor's storage refused something
            raise UnsafePickleError(f"{source}: refused: a tensor's storage names {blocked}; nothing in it "
                                    f"was executed") from None
        raise UpstreamFileError(f"{source}: damaged pickle ({_first_line(exc)})") from None
    except (EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError, RuntimeError, OSError) as exc:
        raise UpstreamFileError(f"{source}: damaged pickle ({type(exc).__name__}: {_first_line(exc)})") from None


def _read_npy(handle, source: str) -> np.ndarray:
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = npy.read_array_header_2_0(handle)
    except ValueError as exc:
        raise UpstreamFileError(f"{source}: not a .npy array ({_first_line(exc)})") from None
    if dtype.hasobject:
        array = _load(handle, source)
        if not isinstance(array, np.ndarray):
            raise UpstreamFileError(f"{source}: the pickled payload is a {type(array).__name__}, not an array")
        return array
    count = int(np.prod(shape, dtype=np.int64))
    data = handle.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise UpstreamFileError(f"{source}: truncated .npy ({len(data)} of {count * dtype.itemsize} data bytes)")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` file; object arrays (``detections.npy``) are unpickled with the allow-list."""
    path = Path(path)
    if not path.is_file():
        raise UpstreamFileError(f"{path}: file not found")
    with path.open("rb") as handle:
        return _read_npy(handle, str(path))


def load_npz_pickled(path: str | os.PathLike, key: str = "data") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (object arrays unpickled with the allow-list), or only ``key`` when it is
    there and the file holds nothing else needed. Returns {name: array}."""
    path = Path(path)
    if not path.is_file():
        raise UpstreamFileError(f"{path}: file not found")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UpstreamFileError(f"{path}: not an .npz archive ({_first_line(exc)})") from None
    out = {}
    with archive:
        for name in archive.namelist():
            if not name.endswith(".npy"):
                continue
            try:
                data = archive.read(name)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise UpstreamFileError(f"{path}: damaged archive member {name} ({_first_line(exc)})") from None
            out[name[:-4]] = _read_npy(io.BytesIO(data), f"{path}:{name}")
    if not out:
        raise UpstreamFileError(f"{path}: the archive holds no arrays")
    return out


def unwrap_object(value: Any) -> Any:
    """The Python object inside a 0-d object array (``np.savez(data=dict)`` stores the dict that way)."""
    if isinstance(value, np.ndarray) and value.dtype == object and value.shape == ():
        return value[()]
    return value


def load_torch_file(path: str | os.PathLike) -> Any:
    """A ``torch.save`` file (zip or legacy) read with ``torch.load(weights_only=True)``; a refused global is
    reported as :class:`UnsafePickleError` naming the file and the global."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UpstreamFileError(f"{path}: file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        blocked = _blocked_global(exc)
        if blocked:
            raise UnsafePickleError(f"{path}: refused: the pickle names {blocked}, which is not plain data "
                                    f"(allowed: tensors, dicts, lists, tuples, scalars); nothing in it was executed"
                                    ) from None
        raise UpstreamFileError(f"{path}: damaged torch file ({_first_line(exc)})") from None
    except (EOFError, RuntimeError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UpstreamFileError(f"{path}: damaged torch file ({_first_line(exc)})") from None


def _blocked_global(exc: BaseException) -> str | None:
    """The global torch's weights-only unpickler refused, as ``module.name`` (torch writes builtins bare)."""
    found = re.search(r"GLOBAL (\S+)", str(exc))
    if not found:
        return None
    name = found.group(1)
    return name if "." in name else f"builtins.{name}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]

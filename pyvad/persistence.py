"""The ``.pyvad`` model file format: versioned, checksummed, pickle-free.

Layout of a file::

    MAGIC (12 bytes) | header length (8 bytes, little endian) | header (UTF-8 JSON) | body

The JSON header holds the format version, the estimator class, its parameters,
its fitted state (with every array replaced by a reference into the body),
library versions, the SHA-256 of the body and the SHA-256 of the header itself
(:func:`header_checksum`). The body is a list of tensors
written by :func:`torch.save` and read back with ``weights_only=True`` onto the
CPU, so loading never executes pickled code and a GPU-trained model loads on a
machine without a GPU.

Estimator classes are resolved by import path, but only for classes defined in
``pyvad`` itself or passed explicitly by the caller (``trusted_classes``), so a
foreign file cannot make :func:`load` import arbitrary modules.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import stat
import struct
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pyvad._version import __version__
from pyvad.exceptions import ModelFileError
from pyvad.plugins import import_object, plugin_methods

MAGIC = b"PYVAD-MODEL\n"
FORMAT_VERSION = 1
_LENGTH = struct.Struct("<Q")
_MAX_HEADER_BYTES = 256 * 1024 * 1024

__all__ = [
    "FORMAT_VERSION", "save_estimator", "load_estimator", "header_checksum", "write_atomically", "write_files_atomically",
    "estimator_to_json", "estimator_from_json",
]


class _Encoder:
    """Turn parameters and fitted state into JSON plus a list of tensors."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] = []

    def _tensor_ref(self, tensor: torch.Tensor) -> int:
        self.tensors.append(tensor.detach().cpu().contiguous())
        return len(self.tensors) - 1

    def encode(self, value: Any, where: str) -> Any:
        from sklearn.base import BaseEstimator

        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (np.bool_, np.integer, np.floating)):
            return value.item()
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "US":
                return {"__strarray__": value.tolist(), "dtype": value.dtype.str}
            if value.dtype.kind not in "biuf":
                raise TypeError(f"cannot save {where}: arrays of dtype {value.dtype} are not supported")
            # np.require, not np.ascontiguousarray: the latter turns a 0-d array into shape (1,).
            return {"__ndarray__": self._tensor_ref(torch.from_numpy(np.require(value, requirements="C")))}
        if isinstance(value, torch.Tensor):
            return {"__tensor__": self._tensor_ref(value)}
        if isinstance(value, nn.Module):
            state = {k: self._tensor_ref(v) for k, v in value.state_dict().items()}
            return {"__module_state__": state}
        if isinstance(value, BaseEstimator):
            return {"__estimator__": encode_estimator(value, self)}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            if not all(isinstance(k, str) for k in value):
                return {"__items__": [[self.encode(k, where), self.encode(v, f"{where}[{k!r}]")]
                                      for k, v in value.items()]}
            return {"__dict__": {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise TypeError(
            f"cannot save {where}: values of type {type(value).__name__} are not supported; "
            "override _get_state/_set_state to store it as arrays or plain values"
        )


class _Decoder:
    """Inverse of :class:`_Encoder`."""

    def __init__(self, tensors: list[torch.Tensor], trusted: Mapping[str, type]) -> None:
        self.tensors = tensors
        self.trusted = trusted

    def _tensor(self, ref: Any) -> torch.Tensor:
        if not isinstance(ref, int) or not 0 <= ref < len(self.tensors):
            raise ModelFileError(f"model file refers to tensor #{ref!r}, which it does not contain")
        return self.tensors[ref]

    def decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__ndarray__" in value:
            return self._tensor(value["__ndarray__"]).numpy().copy()
        if "__tensor__" in value:
            return self._tensor(value["__tensor__"])
        if "__strarray__" in value:
            return np.asarray(value["__strarray__"], dtype=np.dtype(value["dtype"]))
        if "__module_state__" in value:
            return _ModuleState({k: self._tensor(r) for k, r in value["__module_state__"].items()})
        if "__estimator__" in value:
            return decode_estimator(value["__estimator__"], self)
        if "__tuple__" in value:
            return tuple(self.decode(v) for v in value["__tuple__"])
        if "__items__" in value:
            return {self.decode(k): self.decode(v) for k, v in value["__items__"]}
        if "__dict__" in value:
            return {k: self.decode(v) for k, v in value["__dict__"].items()}
        raise ModelFileError(f"model file holds an unknown value tag: {sorted(value)}")


class _ModuleState(dict):
    """A decoded ``state_dict`` waiting for its module to be rebuilt."""


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def encode_estimator(estimator: Any, encoder: _Encoder) -> dict:
    """Encode an estimator's parameters and (if fitted) its state."""
    cls_name = type(estimator).__name__
    params = {
        name: encoder.encode(value, f"{cls_name} parameter {name!r}")
        for name, value in estimator.get_params(deep=False).items()
    }
    get_state = getattr(estimator, "_get_state", None)
    raw_state = get_state() if get_state is not None else _default_state(estimator)
    state = {
        name: encoder.encode(value, f"{cls_name} attribute {name!r}")
        for name, value in raw_state.items()
    }
    return {"class": _class_path(type(estimator)), "params": params, "state": state}


def _default_state(estimator: Any) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


def _defined_path(spec: str) -> str | None:
    """``"module:Class"`` where the class that ``spec`` names is defined, or None if it names no importable class."""
    try:
        obj = import_object(spec)
    except Exception:  # a broken plugin must not stop files that do not use it from loading
        return None
    return _class_path(obj) if isinstance(obj, type) else None


def _is_plugin_class(path: str) -> bool:
    """Whether an installed plugin's entry point names the class defined at ``path``.

    An entry point may name a re-export (``pkg:Det`` for a class defined in ``pkg.detectors``),
    so entry points are compared by the class they resolve to; that imports the plugins only
    when no entry point spells ``path`` itself.
    """
    specs = list(plugin_methods().values())
    return path in specs or any(_defined_path(spec) == path for spec in specs)


def _resolve_class(path: str, trusted: Mapping[str, type]) -> type:
    if path in trusted:
        return trusted[path]
    module_name = path.partition(":")[0]
    in_pyvad = module_name == "pyvad" or module_name.startswith("pyvad.")
    if not in_pyvad and not _is_plugin_class(path):
        raise ModelFileError(
            f"model file asks for class {path!r}, which is neither part of pyvad nor an installed plugin "
            "(entry-point group 'pyvad.detectors'); if you trust this file, pass the class in "
            "load(..., trusted_classes=[TheClass]) or its name as 'module:Class'"
        )
    try:
        return import_object(path)
    except ValueError as exc:
        raise ModelFileError(
            f"model file asks for class {path!r}, which this pyvad ({__version__}) does not have"
        ) from exc


def decode_estimator(blob: Mapping[str, Any], decoder: _Decoder) -> Any:
    """Rebuild an estimator from :func:`encode_estimator` output."""
    from sklearn.base import BaseEstimator

    try:
        cls = _resolve_class(blob["class"], decoder.trusted)
        params = {k: decoder.decode(v) for k, v in blob["params"].items()}
        state = {k: decoder.decode(v) for k, v in blob["state"].items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"model file has a malformed estimator entry: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
        raise ModelFileError(f"model file class {blob['class']!r} is not an estimator")
    unknown = sorted(set(params) - set(cls._get_param_names()))
    if unknown:
        raise ModelFileError(
            f"model file gives {cls.__name__} the parameters {unknown}, which this pyvad ({__version__}) "
            "does not know; the file was probably written by a newer pyvad"
        )
    estimator = cls(**params)
    set_state = getattr(estimator, "_set_state", None)
    if set_state is not None:
        set_state(state)
    else:
        _default_set_state(estimator, state)
    return estimator


def _default_set_state(estimator: Any, state: Mapping[str, Any]) -> None:
    modules = {k: v for k, v in state.items() if isinstance(v, _ModuleState)}
    for name, value in state.items():
        if name not in modules:
            setattr(estimator, name, value)
    if not modules:
        return
    build = getattr(estimator, "_build_modules", None)
    if build is None:
        raise ModelFileError(
            f"{type(estimator).__name__} stores networks but has no _build_modules() to rebuild them"
        )
    built = build()
    for name, module_state in modules.items():
        if name not in built:
            raise ModelFileError(f"{type(estimator).__name__}._build_modules() did not rebuild {name!r}")
        try:
            built[name].load_state_dict(module_state)
        except RuntimeError as exc:
            raise ModelFileError(f"network {name!r} in the model file does not fit its architecture: {exc}") from exc
        setattr(estimator, name, built[name])


def save_estimator(estimator: Any, path: str | os.PathLike) -> Path:
    """Write ``estimator`` to ``path`` atomically (temporary file, then rename).

    A failure at any point leaves an existing file at ``path`` untouched.

    Parameters
    ----------
    estimator : estimator
        A scikit-learn style estimator, fitted or not. Its parameters and fitted
        attributes (names ending in ``_``, or what its ``_get_state`` returns) are stored.
    path : str or path-like
        Destination file; missing parent folders are created.

    Returns
    -------
    path : pathlib.Path
        The written file.

    Raises
    ------
    TypeError
        If a parameter or fitted attribute has a type the format cannot store.
    """
    path = Path(path)
    encoder = _Encoder()
    payload = encode_estimator(estimator, encoder)
    buffer = io.BytesIO()
    torch.save(encoder.tensors, buffer)
    body = buffer.getvalue()
    header = {
        "format": "pyvad-model",
        "format_version": FORMAT_VERSION,
        "estimator": payload,
        "versions": {
            "pyvad": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_bytes": len(body),
    }
    header["header_sha256"] = header_checksum(header)
    header_bytes = json.dumps(header, allow_nan=True).encode("utf-8")
    return write_atomically(path, [MAGIC, _LENGTH.pack(len(header_bytes)), header_bytes, body])


def header_checksum(header: Mapping[str, Any]) -> str:
    """SHA-256 of a model file's JSON header, stored in it as ``header_sha256``.

    Computed over the header without that field, as canonical JSON (sorted keys, no
    spaces), so it does not depend on how the header was laid out in the file.

    Parameters
    ----------
    header : mapping
        The decoded header.

    Returns
    -------
    str
        Hexadecimal digest.
    """
    content = {key: value for key, value in header.items() if key != "header_sha256"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_atomically(path: str | os.PathLike, chunks: Iterable[bytes]) -> Path:
    """Write ``chunks`` to ``path`` through a temporary file in the same folder, then rename.

    A failure at any point leaves an existing file at ``path`` untouched and no
    temporary file behind. A replaced file's permissions are kept; a new file gets
    those of :func:`open` (``0o666`` less the umask).

    Parameters
    ----------
    path : str or path-like
        Destination; missing parent folders are created.
    chunks : iterable of bytes
        The file's content, in order.

    Returns
    -------
    path : pathlib.Path
    """
    return write_files_atomically([(path, chunks)])[0]


def write_files_atomically(files: Sequence[tuple[str | os.PathLike, Iterable[bytes]]]) -> list[Path]:
    """Write files that belong together: all to temporary files first, then rename them one after the other.

    A failure while writing leaves every existing destination untouched and no
    temporary file behind; the renames follow each other directly once every file is
    completely written. Permissions as in :func:`write_atomically`.

    Parameters
    ----------
    files : sequence of (str or path-like, iterable of bytes)
        Destinations and their content; missing parent folders are created.

    Returns
    -------
    paths : list of pathlib.Path
        The destinations, in order.
    """
    written: list[tuple[Path, Path]] = []
    try:
        for path, chunks in files:
            path = Path(path)
            written.append((_write_temporary(path, chunks), path))
        for tmp, path in written:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        raise
    return [path for _, path in written]


def _write_temporary(path: Path, chunks: Iterable[bytes]) -> Path:
    """A complete, synced temporary file next to ``path`` with the mode ``path`` should end up with."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "posix":  # mkstemp creates 0600; elsewhere there are no such modes to fix
            os.chmod(tmp, _destination_mode(path))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _destination_mode(path: Path) -> int:
    """Permission bits of ``path`` if it exists, else those :func:`open` gives a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)  # the only portable way to read the umask is to set it
        os.umask(umask)
        return 0o666 & ~umask


def estimator_to_json(estimator: Any) -> dict | None:
    """Class and parameters of an unfitted estimator as plain JSON, or None if it holds arrays or tensors.

    Parameters
    ----------
    estimator : estimator
        For example an extractor; only its parameters are kept (fit it again after
        :func:`estimator_from_json`).

    Returns
    -------
    dict or None
        ``{"class": "module:Class", "params": {...}}`` (nested estimators included), or
        None when a parameter is an array or tensor that JSON cannot hold.
    """
    from sklearn.base import clone

    encoder = _Encoder()
    blob = encode_estimator(clone(estimator), encoder)
    return None if encoder.tensors else blob


def estimator_from_json(blob: Mapping[str, Any]) -> Any:
    """Rebuild an estimator written by :func:`estimator_to_json` (pyvad or plugin classes only).

    Parameters
    ----------
    blob : mapping
        ``{"class": "module:Class", "params": {...}}`` as returned by :func:`estimator_to_json`.

    Returns
    -------
    estimator
        A new, unfitted estimator with those parameters.

    Raises
    ------
    pyvad.exceptions.ModelFileError
        If the entry is malformed, names a class outside pyvad and its plugins or one
        that is not an estimator, or gives parameters the class does not know.
    """
    return decode_estimator(blob, _Decoder([], {}))


def read_header(path: str | os.PathLike) -> tuple[dict, bytes]:
    """Read and check a model file; return its JSON header and tensor body."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise ModelFileError(f"model path {str(path)!r} is a directory, not a .pyvad file")
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise ModelFileError(
            f"{str(path)!r} is not a pyvad model file (it does not start with the pyvad signature); "
            "files written by joblib.dump must be read with joblib.load"
        )
    offset = len(MAGIC)
    if len(data) < offset + _LENGTH.size:
        raise ModelFileError(f"model file {str(path)!r} is truncated (no header)")
    (header_len,) = _LENGTH.unpack_from(data, offset)
    offset += _LENGTH.size
    if header_len > _MAX_HEADER_BYTES or offset + header_len > len(data):
        raise ModelFileError(f"model file {str(path)!r} is truncated or corrupt (bad header length)")
    try:
        header = json.loads(data[offset : offset + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"model file {str(path)!r} has a corrupt header: {exc}") from exc
    if not isinstance(header, dict):
        raise ModelFileError(f"model file {str(path)!r} has a corrupt header: expected a JSON object")
    version = header.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(f"model file {str(path)!r} has no format version")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"model file {str(path)!r} uses format version {version}, newer than the {FORMAT_VERSION} "
            f"this pyvad ({__version__}) reads; upgrade pyvad (written by pyvad "
            f"{header.get('versions', {}).get('pyvad', '?')})"
        )
    # Files written before the header had its own checksum have no such field.
    if "header_sha256" in header and header["header_sha256"] != header_checksum(header):
        raise ModelFileError(
            f"model file {str(path)!r} is corrupt: the checksum of its header does not match the header"
        )
    body = data[offset + header_len :]
    if len(body) != header.get("body_bytes") or hashlib.sha256(body).hexdigest() != header.get("body_sha256"):
        raise ModelFileError(
            f"model file {str(path)!r} is corrupt or truncated: its checksum does not match its content"
        )
    return header, body


def load_estimator(
    path: str | os.PathLike, *, trusted_classes: Iterable[type | str] = ()
) -> Any:
    """Load an estimator written by :func:`save_estimator`; see :func:`pyvad.load`.

    Parameters
    ----------
    path : str or path-like
        A ``.pyvad`` file.
    trusted_classes : iterable of type or str, default=()
        Classes from outside pyvad (or their ``"module:Class"`` names) that the file may
        instantiate; classes of pyvad and of installed plugins are always allowed.

    Returns
    -------
    estimator
        The estimator as saved, fitted or not; tensors are on the CPU.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    pyvad.exceptions.ModelFileError
        If the file is not a pyvad model, is truncated or corrupt, uses a newer format
        version, or names a class that is not allowed.
    """
    header, body = read_header(path)
    try:
        tensors = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad body
        raise ModelFileError(f"model file {str(path)!r} has an unreadable tensor body: {exc}") from exc
    if not isinstance(tensors, list):
        raise ModelFileError(f"model file {str(path)!r} has an unexpected tensor body")
    if not isinstance(header.get("estimator"), dict):
        raise ModelFileError(f"model file {str(path)!r} holds no estimator entry")
    trusted = {}
    for cls in trusted_classes:
        cls = import_object(cls) if isinstance(cls, str) else cls
        trusted[_class_path(cls)] = cls
    return decode_estimator(header["estimator"], _Decoder(tensors, trusted))

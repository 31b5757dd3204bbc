"""Interoperable inputs and outputs: other tools' boxes and labels in, pyvad's scores out.

Box readers turn common detector outputs into the box table that
:class:`~pyvad.foreground.PrecomputedBoxes` accepts: a mapping with ``boxes``
(float32 ``(N, 4)`` pixel ``x1, y1, x2, y2``), ``video`` (0-based clip index),
``frame`` (0-based frame index), ``clips`` (clip names, in order of first
appearance) and ``scores`` (float32 confidences, 1 where the input has none).
``PrecomputedBoxes(boxes="dets.json")`` (``.txt``, ``.csv``) calls the matching
reader with its defaults; call a reader yourself for its options.

- :func:`read_coco_boxes` -- COCO-style detections (JSON);
- :func:`read_mot_boxes` -- MOTChallenge-style text, one file per video;
- :func:`read_csv_boxes` -- a ``video,frame,x1,y1,x2,y2[,score]`` table (CSV file or a
  pandas ``DataFrame``; pandas is not required);
- :func:`read_interval_labels` -- frame labels from a ``video,start,end`` CSV of abnormal
  intervals (the format of ``test_labels.csv`` in :func:`pyvad.datasets.load_dataset`);
- :func:`write_scores` -- per-frame scores to CSV or JSON in the schema of ``pyvad score``
  (:class:`ScoreCsvWriter`, :func:`interval_record` and :func:`write_json` are the pieces
  the command line writes with).

Videos given as ``torch.Tensor`` need nothing from here: :class:`pyvad.Video` accepts them.
"""

from __future__ import annotations

import csv
import json
import math
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from numbers import Real
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

import numpy as np

from pyvad._version import __version__
from pyvad.datasets import read_interval_labels
from pyvad.exceptions import InvalidVideoError
from pyvad.streaming import AlertTracker
from pyvad.video import DEFAULT_FPS, natural_key

__all__ = [
    "BOX_FILE_READERS",
    "SCORE_CSV_COLUMNS",
    "ScoreCsvWriter",
    "interval_record",
    "is_data_frame",
    "read_coco_boxes",
    "read_csv_boxes",
    "read_interval_labels",
    "read_mot_boxes",
    "write_json",
    "write_scores",
]

PathLike = str | os.PathLike
ImageMap = Mapping[Any, tuple[str, int]]

#: Columns of the per-frame CSV written by ``pyvad score`` and :func:`write_scores`
#: (which puts a ``video`` column first when it writes several videos).
SCORE_CSV_COLUMNS: tuple[str, ...] = ("frame", "time_s", "score")
_CSV_BOX_COLUMNS = ("video", "frame", "x1", "y1", "x2", "y2")
_MOT_MIN_COLUMNS = 6
_MOT_GENERIC_STEMS = frozenset({"det", "gt"})


# ----------------------------------------------------------------------------- box rows


class _BoxRows:
    """Accumulates boxes row by row and numbers clips in order of first appearance."""

    def __init__(self, score_threshold: float | None) -> None:
        self.score_threshold = score_threshold
        self.clips: dict[str, int] = {}
        self.rows: list[tuple[int, int, float, float, float, float, float]] = []

    def add_clip(self, name: str) -> int:
        return self.clips.setdefault(str(name), len(self.clips))

    def add(self, video: str, frame: int, box: Sequence[float], score: float) -> None:
        clip = self.add_clip(video)
        if self.score_threshold is None or score >= self.score_threshold:
            self.rows.append((clip, frame, *map(float, box), float(score)))

    def table(self) -> dict[str, np.ndarray]:
        array = np.asarray(self.rows, dtype=np.float64).reshape(-1, 7)
        return {
            "boxes": array[:, 2:6].astype(np.float32),
            "video": array[:, 0].astype(np.int64),
            "frame": array[:, 1].astype(np.int64),
            "clips": np.asarray(list(self.clips), dtype=str),
            "scores": array[:, 6].astype(np.float32),
        }


def _check_threshold(score_threshold: float | None) -> float | None:
    if score_threshold is None:
        return None
    value = float(score_threshold)
    if not np.isfinite(value):
        raise ValueError(f"score_threshold must be a finite number or None, got {score_threshold!r}")
    return value


def _existing_file(path: PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    return path


def _number(text: Any, *, where: str, field: str) -> float:
    """``text`` as a finite float, or InvalidVideoError naming ``where`` and ``field``."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InvalidVideoError(f"{where}: {field} must be a number, got {text!r}") from None
    if not np.isfinite(value):
        raise InvalidVideoError(f"{where}: {field} must be finite, got {text!r}")
    return value


def _frame_index(text: Any, *, where: str, first: int = 0) -> int:
    """A frame number counted from ``first``, returned 0-based."""
    value = _number(text, where=where, field="frame")
    if value != int(value) or value < first:
        raise InvalidVideoError(f"{where}: frame must be an integer >= {first}, got {text!r}")
    return int(value) - first


def _xywh_to_xyxy(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    return x, y, x + w, y + h


# ----------------------------------------------------------------------------- COCO


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise InvalidVideoError(f"box file {str(path)!r}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise InvalidVideoError(f"box file {str(path)!r}: not a UTF-8 text file ({exc.reason})") from None


def _frames_from_file_names(images: list[dict], where: str) -> dict[Any, tuple[str, int]]:
    """``image id → (video, frame)`` from ``file_name`` = ``<video>/<frame file>``.

    The frame index is the rank of the file among its video's files in natural order,
    which is how :class:`pyvad.Video` orders a frame folder.
    """
    per_video: dict[str, list[tuple[str, Any]]] = {}
    for i, image in enumerate(images):
        path = Path(str(image["file_name"]))
        if len(path.parts) < 2:
            raise InvalidVideoError(
                f"{where}: images[{i}] file_name {str(path)!r} does not name its video; expected "
                "'<video>/<frame file>', or give the image 'video' and 'frame' keys, or pass image_map"
            )
        per_video.setdefault(path.parent.name, []).append((path.name, image["id"]))
    mapping = {}
    for video, files in per_video.items():
        for frame, (_, image_id) in enumerate(sorted(files, key=lambda item: natural_key(item[0]))):
            mapping[image_id] = (video, frame)
    return mapping


def _image_map_from_images(images: Any, where: str) -> dict[Any, tuple[str, int]]:
    """``image id → (video, frame)`` from a COCO ``images`` list."""
    if not isinstance(images, list) or not all(isinstance(image, dict) and "id" in image for image in images):
        raise InvalidVideoError(f"{where}: 'images' must be a list of objects with an 'id'")
    if all("video" in image and "frame" in image for image in images):
        return {
            image["id"]: (str(image["video"]), _frame_index(image["frame"], where=f"{where}, images[{i}]"))
            for i, image in enumerate(images)
        }
    missing = [i for i, image in enumerate(images) if "file_name" not in image]
    if missing:
        raise InvalidVideoError(
            f"{where}: images[{missing[0]}] has neither 'video' and 'frame' nor 'file_name'; cannot place it in a video"
        )
    return _frames_from_file_names(images, where)


def _coco_parts(content: Any, image_map: ImageMap | None, where: str) -> tuple[list, Mapping]:
    """The detections list and the image map of a COCO file."""
    if isinstance(content, dict):
        detections = content.get("annotations")
        if not isinstance(detections, list):
            raise InvalidVideoError(f"{where}: a COCO object needs an 'annotations' list of detections")
        if image_map is None:
            if "images" not in content:
                raise InvalidVideoError(f"{where}: no 'images' list to place detections in videos; pass image_map")
            image_map = _image_map_from_images(content["images"], where)
        return detections, image_map
    if isinstance(content, list):
        if image_map is None:
            raise InvalidVideoError(
                f"{where}: a bare list of detection results says nothing about videos; pass "
                "image_map={image_id: (video name, 0-based frame)}"
            )
        return content, image_map
    raise InvalidVideoError(f"{where}: expected a COCO object or a list of detections, got {type(content).__name__}")


def _coco_detection(detection: Any, where: str) -> tuple[Any, tuple[float, ...], float, Any]:
    """``(image_id, xyxy box, score, category_id)`` of one detection."""
    if not isinstance(detection, dict) or "image_id" not in detection or "bbox" not in detection:
        raise InvalidVideoError(f"{where}: a detection needs 'image_id' and 'bbox' [x, y, width, height]")
    bbox = detection["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise InvalidVideoError(f"{where}: bbox must be [x, y, width, height], got {bbox!r}")
    x, y, w, h = (_number(v, where=where, field="bbox") for v in bbox)
    score = _number(detection.get("score", 1.0), where=where, field="score")
    return detection["image_id"], _xywh_to_xyxy(x, y, w, h), score, detection.get("category_id")


def read_coco_boxes(
    path: PathLike,
    *,
    image_map: ImageMap | None = None,
    score_threshold: float | None = None,
    category_ids: Iterable[Any] | None = None,
) -> dict[str, np.ndarray]:
    """Read COCO-style detections into a box table.

    Two layouts are supported:

    - a COCO object ``{"images": [...], "annotations": [...]}``. Every image either
      carries ``"video"`` and ``"frame"`` (0-based) keys, or a ``"file_name"`` ending in
      ``"<video>/<frame file>"`` (the video is the frame's folder name, as a
      :class:`pyvad.Video` of that folder is named); the frame index is then the rank of
      the file among its video's files in natural order (as :class:`pyvad.Video` reads a frame folder), so
      ``images`` must list every frame of those videos;
    - a list of detection results ``[{"image_id", "bbox", "score", "category_id"}, ...]``
      (what detectors write for COCO evaluation) together with ``image_map``.

    ``bbox`` is COCO's ``[x, y, width, height]`` in pixels; a detection without
    ``score`` (a ground-truth annotation) counts as score 1.

    Parameters
    ----------
    path : str or path-like
        The JSON file.
    image_map : mapping, optional
        ``image_id → (video name, 0-based frame)``; required for a results list, and
        replaces the ``images`` list of a COCO object when given.
    score_threshold : float, optional
        Keep detections whose score is at least this.
    category_ids : iterable, optional
        Keep only these categories (e.g. ``[1]`` for COCO's person); default all.

    Returns
    -------
    dict of str to ndarray
        ``boxes``, ``video``, ``frame``, ``clips``, ``scores`` (see :mod:`pyvad.interop`).
        Videos without any kept detection remain in ``clips``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    pyvad.exceptions.InvalidVideoError
        Malformed JSON or entries; the message names the file and the entry.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dets.json"
    >>> _ = path.write_text(json.dumps([{"image_id": 7, "bbox": [10, 20, 30, 40], "score": 0.9}]))
    >>> table = read_coco_boxes(path, image_map={7: ("cam1", 3)})
    >>> table["boxes"].tolist(), table["frame"].tolist(), table["clips"].tolist()
    ([[10.0, 20.0, 40.0, 60.0]], [3], ['cam1'])
    """
    path = _existing_file(path, "COCO box file")
    threshold = _check_threshold(score_threshold)
    detections, images = _coco_parts(_load_json(path), image_map, f"box file {str(path)!r}")
    categories = None if category_ids is None else set(category_ids)
    rows = _BoxRows(threshold)
    for video, _ in images.values():
        rows.add_clip(video)
    for i, detection in enumerate(detections):
        where = f"box file {str(path)!r}, detection {i}"
        image_id, box, score, category = _coco_detection(detection, where)
        if image_id not in images:
            raise InvalidVideoError(f"{where}: image_id {image_id!r} is not in the image map / images list")
        if categories is None or category in categories:
            video, frame = images[image_id]
            rows.add(video, int(frame), box, score)
    return rows.table()


# ------------------------------------------------------------------------------ MOT


def _mot_video_name(path: Path) -> str:
    """File stem; for MOTChallenge's ``<sequence>/det/det.txt`` (or ``gt/gt.txt``) the sequence."""
    if path.stem in _MOT_GENERIC_STEMS and path.parent.name == path.stem and path.parent.parent.name:
        return path.parent.parent.name
    return path.stem


def _mot_fields(line: str) -> list[str]:
    return [field.strip() for field in (line.split(",") if "," in line else line.split())]


def _read_mot_file(path: Path, video: str, rows: _BoxRows) -> None:
    rows.add_clip(video)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"MOT file {str(path)!r}, line {number}"
            fields = _mot_fields(line)
            if len(fields) < _MOT_MIN_COLUMNS:
                raise InvalidVideoError(
                    f"{where}: expected at least 'frame, id, x, y, w, h[, conf, ...]', got {len(fields)} field(s)"
                )
            frame = _frame_index(fields[0], where=where, first=1)
            x, y, w, h = (_number(v, where=where, field="x, y, w, h") for v in fields[2:6])
            score = _number(fields[6], where=where, field="conf") if len(fields) > _MOT_MIN_COLUMNS else 1.0
            rows.add(video, frame, _xywh_to_xyxy(x, y, w, h), score)


def read_mot_boxes(
    paths: PathLike | Sequence[PathLike] | Mapping[str, PathLike], *, score_threshold: float | None = None
) -> dict[str, np.ndarray]:
    """Read MOTChallenge-style text files (one per video) into a box table.

    Every non-empty line is ``frame, id, x, y, w, h[, conf, ...]`` with 1-based frames
    and pixel ``x, y, w, h`` (comma- or whitespace-separated); lines starting with ``#``
    are skipped and further columns are ignored. ``conf`` is the score (1 when absent;
    in MOT ground-truth files that column is the 0/1 "consider" flag).

    Parameters
    ----------
    paths : str, path-like, sequence of them, or mapping of str to them
        The files. A mapping gives the video name of each file; otherwise a video is
        named after its file stem, or after the sequence folder for MOTChallenge's
        ``<sequence>/det/det.txt`` and ``<sequence>/gt/gt.txt``.
    score_threshold : float, optional
        Keep boxes whose ``conf`` is at least this.

    Returns
    -------
    dict of str to ndarray
        ``boxes``, ``video``, ``frame`` (0-based), ``clips`` (one per file, in the given
        order) and ``scores``.

    Raises
    ------
    FileNotFoundError
        A file does not exist.
    pyvad.exceptions.InvalidVideoError
        A malformed line (too few fields, a non-number, a frame below 1); the message
        names the file and line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cam1.txt"
    >>> _ = path.write_text("1,3,10,20,30,40,0.8\\n")
    >>> table = read_mot_boxes(path)
    >>> table["boxes"].tolist(), table["frame"].tolist(), table["clips"].tolist()
    ([[10.0, 20.0, 40.0, 60.0]], [0], ['cam1'])
    """
    if isinstance(paths, Mapping):
        named = [(str(video), Path(path)) for video, path in paths.items()]
    else:
        files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        named = [(_mot_video_name(Path(path)), Path(path)) for path in files]
    duplicated = sorted({video for video, _ in named if [v for v, _ in named].count(video) > 1})
    if duplicated:
        raise ValueError(f"read_mot_boxes: several files give boxes for the videos {duplicated}; pass a mapping")
    rows = _BoxRows(_check_threshold(score_threshold))
    for video, path in named:
        _read_mot_file(_existing_file(path, "MOT file"), video, rows)
    return rows.table()


# ------------------------------------------------------------------------------ CSV


def is_data_frame(table: Any) -> bool:
    """Whether ``table`` looks like a pandas DataFrame (checked without importing pandas).

    Parameters
    ----------
    table : object

    Returns
    -------
    bool
        True for objects with ``columns`` and ``to_dict`` that are not mappings.
    """
    return hasattr(table, "columns") and hasattr(table, "to_dict") and not isinstance(table, Mapping)


def _csv_records(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(where, row)`` of every data row of a CSV file; the header is checked first."""
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: Excel's "CSV UTF-8" starts with a BOM
        reader = csv.DictReader(handle)
        _check_box_columns(reader.fieldnames or (), f"box file {str(path)!r}")
        for row in reader:
            yield f"box file {str(path)!r}, line {reader.line_num}", row


def _frame_records(table: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(where, row)`` of every row of a DataFrame-like table."""
    _check_box_columns([str(c) for c in table.columns], "box table")
    for number, row in enumerate(table.to_dict("records")):
        yield f"box table, row {number}", row


def _is_missing(value: Any) -> bool:
    """Whether a cell is empty: ``None``, ``""`` (CSV) or NaN (how pandas stores a missing number)."""
    if value is None or (isinstance(value, str) and value == ""):
        return True
    return isinstance(value, Real) and math.isnan(value)


def _check_box_columns(columns: Sequence[str], where: str) -> None:
    missing = [c for c in _CSV_BOX_COLUMNS if c not in columns]
    if missing:
        raise InvalidVideoError(
            f"{where} lacks the column(s) {missing}; expected video, frame, x1, y1, x2, y2 and optionally score "
            f"(has {list(columns)})"
        )


def read_csv_boxes(table: PathLike | Any, *, score_threshold: float | None = None) -> dict[str, np.ndarray]:
    """Read a ``video, frame, x1, y1, x2, y2[, score]`` table into a box table.

    Parameters
    ----------
    table : str, path-like or pandas.DataFrame
        A UTF-8 CSV file (with or without the byte order mark that Excel writes) with a
        header row naming (at least) the columns ``video``, ``frame`` (0-based), ``x1``,
        ``y1``, ``x2``, ``y2`` (pixels) and optionally ``score``, in any order; or a
        DataFrame with those columns (pandas itself is not required).
    score_threshold : float, optional
        Keep boxes whose score is at least this (boxes without a score count as 1: no
        ``score`` column, an empty cell, or NaN in a DataFrame).

    Returns
    -------
    dict of str to ndarray
        ``boxes``, ``video``, ``frame``, ``clips`` (in order of first appearance),
        ``scores``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    pyvad.exceptions.InvalidVideoError
        A missing column or a malformed row; the message names the file and line (or
        the DataFrame row).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "boxes.csv"
    >>> _ = path.write_text("video,frame,x1,y1,x2,y2,score\\ncam1,4,10,20,40,60,0.7\\n")
    >>> read_csv_boxes(path)["boxes"].tolist()
    [[10.0, 20.0, 40.0, 60.0]]
    """
    records = _frame_records(table) if is_data_frame(table) else _csv_records(_existing_file(table, "box file"))
    rows = _BoxRows(_check_threshold(score_threshold))
    for where, row in records:
        video = row.get("video")
        if video is None or not str(video).strip():
            raise InvalidVideoError(f"{where}: the video column is empty")
        frame = _frame_index(row.get("frame"), where=where)
        box = [_number(row.get(c), where=where, field=c) for c in _CSV_BOX_COLUMNS[2:]]
        score = row.get("score")
        score = 1.0 if _is_missing(score) else _number(score, where=where, field="score")
        rows.add(str(video).strip(), frame, box, score)
    return rows.table()


#: Reader used by :func:`pyvad.foreground.precomputed.load_box_table` for each file suffix.
BOX_FILE_READERS: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    ".json": read_coco_boxes,
    ".txt": read_mot_boxes,
    ".csv": read_csv_boxes,
}


# --------------------------------------------------------------------------- scores out


def write_json(path: PathLike, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as indented JSON, creating the parent folder.

    Parameters
    ----------
    path : str or path-like
    payload : mapping
        JSON-serialisable content.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def interval_record(start: int, end: int, start_time: float, end_time: float, peak_score: float) -> dict[str, Any]:
    """One abnormal interval as written in the ``abnormal_intervals`` list of a score JSON.

    Parameters
    ----------
    start, end : int
        First and last abnormal frame (inclusive).
    start_time, end_time : float
        Their times in seconds.
    peak_score : float
        Highest score in the interval.

    Returns
    -------
    dict
        ``start``, ``end``, ``start_time``, ``end_time`` (rounded to 0.1 ms), ``peak_score``.
    """
    return {"start": int(start), "end": int(end), "start_time": round(float(start_time), 4),
            "end_time": round(float(end_time), 4), "peak_score": float(peak_score)}


class ScoreCsvWriter:
    """Writes per-frame scores row by row in the ``pyvad score`` CSV schema.

    The header is ``frame,time_s,score`` (:data:`SCORE_CSV_COLUMNS`), preceded by
    ``video`` when ``video_column`` is true; times have 4 decimals, scores 6
    significant digits.

    With ``atomic`` (the default), rows go to a hidden temporary file beside ``path``,
    moved onto ``path`` when the writer closes normally or because of a
    ``KeyboardInterrupt`` (Ctrl-C keeps the rows written so far). When a ``with`` block
    ends with any other exception, the temporary file is deleted and a CSV already at
    ``path`` stays as it was, so a run that fails never replaces a good file by a partial
    one. Without it, rows go straight to ``path`` as they are written, so another program
    can follow a camera's scores while they come.

    Parameters
    ----------
    path : str or path-like
        The CSV file; its parent folder is created.
    video_column : bool, default=False
        Start every row with the video name.
    atomic : bool, default=True
        Replace ``path`` only once the writer closes (see above).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.csv"
    >>> with ScoreCsvWriter(path) as writer:
    ...     writer.write(0, 0.0, 1.5)
    >>> path.read_text().splitlines()
    ['frame,time_s,score', '0,0.0000,1.5']
    """

    def __init__(self, path: PathLike, *, video_column: bool = False, atomic: bool = True) -> None:
        self.path = Path(path)
        self.video_column = video_column
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # "x" (not tempfile's 0600 files) so that the CSV gets the usual permissions
        self._temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.tmp") if atomic else None
        self._handle: TextIO = self._temporary.open("x", newline="") if atomic else self.path.open("w", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow((["video"] if video_column else []) + list(SCORE_CSV_COLUMNS))

    def write(self, frame: int, time_s: float, score: float, video: str | None = None) -> None:
        """Write one frame's row (``video`` is required exactly when ``video_column`` is set).

        Parameters
        ----------
        frame : int
            0-based frame index.
        time_s : float
            Time of the frame in seconds (written with 4 decimals).
        score : float
            The frame's anomaly score (written with 6 significant digits).
        video : str, optional
            Video name, for the first column; give it only when ``video_column`` is true.

        Raises
        ------
        ValueError
            If ``video`` is given without a video column, or missing with one.
        """
        if (video is not None) != self.video_column:
            raise ValueError("ScoreCsvWriter.write: give video exactly when the writer has a video column")
        row = [int(frame), f"{time_s:.4f}", f"{score:.6g}"]
        self._writer.writerow(([video] if self.video_column else []) + row)

    def close(self) -> None:
        """Flush the rows and move them onto ``path``; closing twice is harmless."""
        if self._handle.closed:
            return
        self._handle.close()
        if self._temporary is not None:
            try:
                os.replace(self._temporary, self.path)
            finally:
                self._temporary.unlink(missing_ok=True)  # still there only when the move failed

    def _discard(self) -> None:
        """Close, and delete the temporary file, leaving ``path`` as it was (rows written
        straight to ``path`` stay)."""
        self._handle.close()
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None or issubclass(kind, KeyboardInterrupt):
            self.close()
        else:
            self._discard()


def _checked_scores(scores: Sequence[Any], names: Sequence[str] | None) -> list[np.ndarray]:
    arrays = []
    for i, values in enumerate(scores):
        array = np.asarray(values, dtype=np.float64)
        label = names[i] if names is not None else str(i)
        if array.ndim != 1 or not np.isfinite(array).all():
            raise InvalidVideoError(f"write_scores: scores of video {label!r} must be a finite 1-D array, "
                                    f"got shape {array.shape}")
        arrays.append(array)
    return arrays


def _video_record(name: str | None, scores: np.ndarray, fps: float, threshold: float | None) -> dict[str, Any]:
    """The score JSON of one video: the ``pyvad score`` keys that do not describe a run."""
    record: dict[str, Any] = {"input": name, "pyvad": __version__, "fps": fps, "threshold": threshold,
                              "frames": len(scores)}
    if threshold is not None:
        tracker, intervals = AlertTracker(), []
        for index, score in enumerate(scores):
            alerts = tracker.update(index, index / fps, float(score), bool(score > threshold))
            intervals += [a for a in alerts if a.kind == "end"]
        intervals += tracker.close()
        record["abnormal_intervals"] = [
            interval_record(a.start, a.end, a.start_time, a.end_time, a.peak_score) for a in intervals
        ]
    record["scores"] = scores.tolist()
    return record


def write_scores(
    path: PathLike,
    scores: Sequence[Any],
    names: Sequence[str] | None = None,
    fps: float = DEFAULT_FPS,
    *,
    threshold: float | None = None,
) -> Path:
    """Write per-frame scores as CSV or JSON in the schema of ``pyvad score``.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` or ``.json`` file.
    scores : sequence of array-like
        One 1-D array of frame scores per video (e.g. ``det.score_frames(videos)``).
    names : sequence of str, optional
        Video names. Without names, exactly one video is allowed and the files are
        those of ``pyvad score``.
    fps : float, default=pyvad.video.DEFAULT_FPS
        Frame rate for ``time_s`` = frame / fps.
    threshold : float, optional
        Score above which a frame is abnormal (e.g. ``-det.offset_``); the JSON then
        lists ``abnormal_intervals`` as ``pyvad score`` does.

    Returns
    -------
    pathlib.Path

    Notes
    -----
    CSV: ``frame,time_s,score``, one row per frame, preceded by a ``video`` column when
    ``names`` is given. JSON: for one unnamed video the ``pyvad score`` record
    (``input``, ``pyvad``, ``fps``, ``threshold``, ``frames``, ``abnormal_intervals`` when a
    threshold is given, ``scores``); with names, ``{"pyvad": ..., "videos": [record, ...]}``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.csv"
    >>> _ = write_scores(path, [[0.5, 2.0]], names=["cam1"], fps=10)
    >>> path.read_text().splitlines()
    ['video,frame,time_s,score', 'cam1,0,0.0000,0.5', 'cam1,1,0.1000,2']
    """
    path = Path(path)
    if names is not None and len(names) != len(scores):
        raise ValueError(f"write_scores: {len(scores)} score arrays but {len(names)} names")
    if names is None and len(scores) != 1:
        raise ValueError(f"write_scores: give names for {len(scores)} videos (without names, exactly one)")
    if isinstance(fps, (bool, np.bool_)) or not (isinstance(fps, Real) and np.isfinite(fps) and fps > 0):
        raise ValueError(f"write_scores: fps must be a positive number, got {fps!r}")
    arrays = _checked_scores(scores, names)
    if path.suffix.lower() == ".csv":
        with ScoreCsvWriter(path, video_column=names is not None) as writer:
            for i, array in enumerate(arrays):
                for frame, score in enumerate(array):
                    writer.write(frame, frame / fps, score, None if names is None else str(names[i]))
        return path
    if path.suffix.lower() == ".json":
        if names is None:
            return write_json(path, _video_record(None, arrays[0], float(fps), threshold))
        records = [_video_record(str(n), a, float(fps), threshold) for n, a in zip(names, arrays)]
        return write_json(path, {"pyvad": __version__, "videos": records})
    raise ValueError(f"write_scores: {str(path)!r} must end in .csv or .json")

"""Loaders for video anomaly detection benchmarks and plain folders of videos.

:func:`load_dataset` reads only metadata (folder listings, label files); frames stay on
disk and are decoded lazily by :class:`pyvad.video.Video` when indexed. Nothing is ever
downloaded: when data is missing, the error says what was expected where and names the
dataset's official page.

Supported names and layouts (``root`` is the folder passed to :func:`load_dataset`):

``"ped2"``, ``"avenue"``, ``"shanghaitech"`` -- frame-folder layout used by most VAD code::

    training/frames/<clip>/*.jpg          (ShanghaiTech: training/videos/*.avi also accepted)
    testing/frames/<clip>/*.jpg
    test frame labels, first found of:
        testing/test_frame_mask/<clip>.npy or testing/labels/<clip>.npy   one 0/1 per frame
        <name>.mat          MATLAB cell ``gt``: per clip a 2 x k array of 1-based
                            [first; last] abnormal intervals (ped2.mat, avenue.mat ...)
        frame_labels_<ped2|avenue|shanghai>.npy   all test clips concatenated
    pixel masks (optional), first found of:
        testing/masks/<clip>/*.png            one image per frame (0 / 255)
        testing/test_pixel_mask/<clip>.npy    (T, H, W) array (0 / 1)

  ``"ped2"`` also accepts the original UCSD layout below.

``"ucsd_ped1"``, ``"ucsd_ped2"`` -- original UCSD archive (``root`` may be the archive
folder ``UCSD_Anomaly_Dataset.v1p2``, its parent, or ``UCSDped2`` itself)::

    UCSDped2/Train/Train001/*.tif
    UCSDped2/Test/Test001/*.tif
    UCSDped2/Test/Test001_gt/*.bmp       pixel masks (0 / 255), for the clips that have them
    UCSDped2/Test/UCSDped2.m             ``TestDataset.gt_frame{1} = [61:180];`` (1-based)

  Without the ``.m`` file, frame labels are derived from the masks (a frame is abnormal
  when its mask has a non-zero pixel); this decodes the masks once.

``"ubnormal"`` -- ``Scene*/<video>.mp4`` with abnormal tracks in
``Scene*/<video>_annotations/<video>_tracks.txt`` (lines ``track_id,start,end``, 0-based
inclusive frames). With the official split files ``*_video_names.txt`` in ``root`` or
``root/scripts``: train = ``normal_training`` (plus ``abnormal_training`` when
``include_abnormal_train=True``), test = ``normal_<test_split>`` + ``abnormal_<test_split>``
(``test_split`` is ``"test"`` or ``"validation"``). Without them: every ``normal_*`` video
is train, every ``abnormal_*`` video is test. No pixel masks are loaded.

``"folder"`` -- any data of your own::

    train/<video file or frame folder>   normal videos
    test/<video file or frame folder>
    test_labels.csv                      optional; header ``video,start,end``; one row per
                                         abnormal interval, 0-based inclusive frames; the
                                         ``video`` column is the file stem / folder name.
                                         Test videos without a row are all normal.

Pixel masks are returned as stored (0/255 for image masks, 0/1 for ``.npy`` masks): test
them with ``mask > 0``.

Precomputed object boxes in the layout the VEC authors released (``boxes_vec/training.npz``,
``boxes_vec/testing.npz`` under ``root``) are read by :func:`load_vec_boxes`.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import scipy.io

from pyvad.exceptions import DatasetNotFoundError, InvalidVideoError
from pyvad.video import Video, natural_key

__all__ = ["DATASET_NAMES", "VideoDataset", "load_dataset", "load_vec_boxes", "read_interval_labels"]

_UCSD_PAGE = "http://www.svcl.ucsd.edu/projects/anomaly/dataset.htm"
_AVENUE_PAGE = "http://www.cse.cuhk.edu.hk/leojia/projects/detectabnormal/dataset.html"
_SHANGHAITECH_PAGE = "https://svip-lab.github.io/dataset/campus_dataset.html"
_UBNORMAL_PAGE = "https://github.com/lilygeorgescu/UBnormal"

_OFFICIAL_PAGES = {
    "ped2": _UCSD_PAGE,
    "ucsd_ped1": _UCSD_PAGE,
    "ucsd_ped2": _UCSD_PAGE,
    "avenue": _AVENUE_PAGE,
    "shanghaitech": _SHANGHAITECH_PAGE,
    "ubnormal": _UBNORMAL_PAGE,
}
# Name of the concatenated MNAD label file, ``frame_labels_<alias>.npy``.
_MNAD_LABEL_ALIASES = {"ped2": "ped2", "avenue": "avenue", "shanghaitech": "shanghai"}
_VIDEO_EXTENSIONS = frozenset({".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v", ".webm"})
_PER_VIDEO_LABEL_DIRS = ("test_frame_mask", "labels")
_UBNORMAL_TEST_SPLITS = ("test", "validation")

Interval = tuple[int, int]


@dataclass
class VideoDataset:
    """One split of a dataset: lazy videos with their frame labels and pixel masks.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"ped2"``.
    split : str
        ``"train"`` or ``"test"``.
    videos : list of Video
        Lazy videos, in the dataset's natural clip order.
    names : list of str
        Clip names (``"01"``, ``"Test001"``, file stems ...), one per video.
    frame_labels : list of numpy.ndarray or None
        Per video, a ``uint8`` array of 0/1 (1 = abnormal), one entry per frame; all zeros
        for training splits; ``None`` when the split has no labels.
    masks : list of Video or None
        Per video, a lazy grayscale Video of pixel masks aligned with the frames, values
        as stored (0/255 or 0/1; use ``mask > 0``). An entry is ``None`` for a clip
        without masks (UCSD Ped1); the list is ``None`` when the split has no masks.

    Raises
    ------
    InvalidVideoError
        If the lists disagree in length, or labels / masks do not have one entry per frame.

    Examples
    --------
    >>> import numpy as np
    >>> from pyvad.video import Video
    >>> ds = VideoDataset("toy", "train", [Video(np.zeros((3, 8, 8), np.uint8))], ["a"],
    ...                   [np.zeros(3, np.uint8)])
    >>> len(ds), ds.n_frames, ds.frame_labels_flat.tolist()
    (1, 3, [0, 0, 0])
    """

    name: str
    split: str
    videos: list[Video]
    names: list[str]
    frame_labels: list[np.ndarray] | None = None
    masks: list[Video | None] | None = None

    def __post_init__(self) -> None:
        self._check_per_video_list("names", self.names)
        if self.frame_labels is not None:
            self._check_per_video_list("frame_labels", self.frame_labels)
            for video_name, video, labels in zip(self.names, self.videos, self.frame_labels):
                self._check_frame_count(video_name, video, len(labels), "frame labels")
        if self.masks is not None:
            self._check_per_video_list("masks", self.masks)
            for video_name, video, mask in zip(self.names, self.videos, self.masks):
                if mask is not None:
                    self._check_frame_count(video_name, video, len(mask), "mask frames")

    def __len__(self) -> int:
        """Number of videos."""
        return len(self.videos)

    @property
    def n_frames(self) -> int:
        """Total number of frames over all videos."""
        return sum(len(video) for video in self.videos)

    @property
    def frame_labels_flat(self) -> np.ndarray:
        """Frame labels of all videos concatenated in video order (``uint8`` 0/1).

        Raises
        ------
        DatasetNotFoundError
            If this split has no frame labels.
        """
        if self.frame_labels is None:
            raise DatasetNotFoundError(
                f"The {self.split} split of dataset '{self.name}' has no frame labels."
            )
        if not self.frame_labels:
            return np.zeros(0, dtype=np.uint8)
        return np.concatenate(self.frame_labels).astype(np.uint8, copy=False)

    def _check_per_video_list(self, field: str, values: Sequence[object]) -> None:
        if len(values) != len(self.videos):
            raise InvalidVideoError(
                f"Dataset '{self.name}' ({self.split}): {field} has {len(values)} entries "
                f"for {len(self.videos)} videos; expected one per video."
            )

    def _check_frame_count(self, video_name: str, video: Video, count: int, what: str) -> None:
        if count != len(video):
            raise InvalidVideoError(
                f"Dataset '{self.name}' ({self.split}), video '{video_name}': {count} "
                f"{what} for {len(video)} frames; expected one per frame."
            )


# --------------------------------------------------------------------------- helpers


def _missing(dataset: str, what: str, where: Path) -> DatasetNotFoundError:
    """Build the error for data that is absent, naming the official download page."""
    page = _OFFICIAL_PAGES.get(dataset)
    hint = f" Download it from {page} (pyvad never downloads data)." if page else ""
    return DatasetNotFoundError(f"Dataset '{dataset}': expected {what} at '{where}'.{hint}")


def _require_dir(path: Path, dataset: str, what: str) -> Path:
    if not path.is_dir():
        raise _missing(dataset, what, path)
    return path


def _visible_entries(folder: Path) -> list[Path]:
    """Non-hidden entries of ``folder``, naturally sorted by name."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    return sorted(entries, key=lambda p: natural_key(p.name))


def _subfolders(folder: Path, pattern: str = r".+") -> list[Path]:
    """Naturally sorted sub-folders of ``folder`` whose full name matches ``pattern``."""
    regex = re.compile(pattern)
    return [p for p in _visible_entries(folder) if p.is_dir() and regex.fullmatch(p.name)]


def _video_sources(folder: Path) -> list[Path]:
    """Video files and frame folders directly inside ``folder``, naturally sorted."""
    return [
        p
        for p in _visible_entries(folder)
        if p.is_dir() or p.suffix.lower() in _VIDEO_EXTENSIONS
    ]


def _require_sources(sources: list[Path], dataset: str, what: str, folder: Path) -> list[Path]:
    if not sources:
        raise _missing(dataset, f"at least one {what}", folder)
    return sources


def _read_array(path: Path, reader: Callable[..., np.ndarray], **options: object) -> np.ndarray:
    """Read a label/mask array with ``reader``, turning parse errors into pyvad errors."""
    try:
        return reader(path, **options)
    except (OSError, ValueError, EOFError) as exc:
        raise InvalidVideoError(f"Cannot read the annotation file '{path}': {exc}") from exc


def _source_name(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def _open_videos(dataset: str, split: str, sources: Sequence[Path]) -> list[Video]:
    """Lazy videos named ``<dataset>/<split>/<clip>``."""
    return [Video(str(p), name=f"{dataset}/{split}/{_source_name(p)}") for p in sources]


def _zero_labels(videos: Iterable[Video]) -> list[np.ndarray]:
    return [np.zeros(len(video), dtype=np.uint8) for video in videos]


def _labels_from_intervals(
    n_frames: int, intervals: Iterable[Interval], *, video: str, source: Path
) -> np.ndarray:
    """0/1 labels from 0-based inclusive ``(start, end)`` abnormal intervals."""
    labels = np.zeros(n_frames, dtype=np.uint8)
    for start, end in intervals:
        if not 0 <= start <= end < n_frames:
            raise InvalidVideoError(
                f"Video '{video}': abnormal interval [{start}, {end}] (0-based) from "
                f"'{source}' lies outside its {n_frames} frames."
            )
        labels[start : end + 1] = 1
    return labels


def _train_split(dataset: str, sources: Sequence[Path]) -> VideoDataset:
    videos = _open_videos(dataset, "train", sources)
    names = [_source_name(p) for p in sources]
    return VideoDataset(dataset, "train", videos, names, _zero_labels(videos))


# --------------------------------------------------------- frame-folder benchmarks


def _read_mat_intervals(path: Path) -> list[list[Interval]]:
    """Per clip, the 0-based inclusive intervals of a ``gt`` .mat file (1-based inside)."""
    try:
        content = scipy.io.loadmat(str(path))
    except (OSError, ValueError, NotImplementedError) as exc:
        raise InvalidVideoError(f"Cannot read the label file '{path}': {exc}") from exc
    if "gt" not in content:
        raise InvalidVideoError(f"Label file '{path}' has no variable 'gt'.")
    gt = content["gt"]
    clips = list(gt.ravel()) if gt.dtype == object else list(np.atleast_2d(gt).T)
    return [_mat_clip_intervals(clip, path) for clip in clips]


def _mat_clip_intervals(clip: np.ndarray, path: Path) -> list[Interval]:
    """Turn one clip's [first; last] columns (2 x k, or k x 2) into 0-based intervals."""
    bounds = np.asarray(clip, dtype=np.int64)
    if bounds.size == 0:
        return []
    if bounds.size == 2:
        bounds = bounds.reshape(2, 1)
    elif bounds.ndim == 2 and bounds.shape[0] != 2 and bounds.shape[1] == 2:
        bounds = bounds.T
    if bounds.ndim != 2 or bounds.shape[0] != 2:
        raise InvalidVideoError(
            f"Label file '{path}': an entry of 'gt' has shape {np.shape(clip)}; "
            "expected 2 x k [first; last] intervals."
        )
    return [(int(first) - 1, int(last) - 1) for first, last in bounds.T]


def _benchmark_train_sources(dataset: str, root: Path) -> list[Path]:
    frames = root / "training" / "frames"
    if frames.is_dir():
        return _require_sources(_subfolders(frames), dataset, "clip folder", frames)
    videos = root / "training" / "videos"
    if videos.is_dir():
        return _require_sources(_video_sources(videos), dataset, "video file", videos)
    raise _missing(dataset, "training clips (training/frames/<clip>/ or training/videos/)", frames)


def _labels_per_video_npy(
    folder: Path, names: Sequence[str], dataset: str
) -> list[np.ndarray]:
    labels = []
    for clip in names:
        path = folder / f"{clip}.npy"
        if not path.is_file():
            raise _missing(dataset, f"the frame labels of test clip '{clip}'", path)
        labels.append((_read_array(path, np.load).ravel() != 0).astype(np.uint8))
    return labels


def _labels_from_mat(
    path: Path, videos: Sequence[Video], names: Sequence[str], dataset: str
) -> list[np.ndarray]:
    intervals = _read_mat_intervals(path)
    if len(intervals) != len(videos):
        raise _missing(
            dataset,
            f"{len(intervals)} test clips (one per entry of '{path.name}'), found "
            f"{len(videos)}",
            path.parent / "testing" / "frames",
        )
    return [
        _labels_from_intervals(len(video), clip, video=name, source=path)
        for video, name, clip in zip(videos, names, intervals)
    ]


def _labels_from_concatenated_npy(path: Path, videos: Sequence[Video]) -> list[np.ndarray]:
    flat = (_read_array(path, np.load).ravel() != 0).astype(np.uint8)
    lengths = [len(video) for video in videos]
    if flat.size != sum(lengths):
        raise InvalidVideoError(
            f"Label file '{path}' has {flat.size} frame labels; the test clips have "
            f"{sum(lengths)} frames."
        )
    return np.split(flat, np.cumsum(lengths)[:-1])


def _benchmark_test_labels(
    dataset: str, root: Path, videos: Sequence[Video], names: Sequence[str]
) -> list[np.ndarray]:
    """Find and read the test frame labels (see the module docstring for the order)."""
    for folder_name in _PER_VIDEO_LABEL_DIRS:
        folder = root / "testing" / folder_name
        if folder.is_dir():
            return _labels_per_video_npy(folder, names, dataset)
    mat_file = root / f"{dataset}.mat"
    if mat_file.is_file():
        return _labels_from_mat(mat_file, videos, names, dataset)
    npy_file = root / f"frame_labels_{_MNAD_LABEL_ALIASES[dataset]}.npy"
    if npy_file.is_file():
        return _labels_from_concatenated_npy(npy_file, videos)
    raise _missing(
        dataset,
        f"test frame labels (testing/test_frame_mask/<clip>.npy, {mat_file.name} or "
        f"{npy_file.name})",
        root,
    )


def _mask_from_npy(path: Path, name: str) -> Video:
    array = _read_array(path, np.load, mmap_mode="r")
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    elif array.dtype != np.uint8:
        array = array.astype(np.uint8)
    return Video(array, name=name, grayscale=True)


def _masks_from_folders(dataset: str, folder: Path, names: Sequence[str]) -> list[Video | None]:
    """One frame folder of mask images per clip: ``folder/<clip>/*.png``."""
    masks: list[Video | None] = []
    for clip in names:
        path = folder / clip
        if not path.is_dir():
            raise _missing(dataset, f"the pixel masks of test clip '{clip}'", path)
        masks.append(Video(str(path), name=f"{dataset}/test/{clip}/mask", grayscale=True))
    return masks


def _masks_from_npy_files(dataset: str, folder: Path, names: Sequence[str]) -> list[Video | None]:
    """One ``(T, H, W)`` array per clip: ``folder/<clip>.npy``, memory-mapped."""
    masks: list[Video | None] = []
    for clip in names:
        path = folder / f"{clip}.npy"
        if not path.is_file():
            raise _missing(dataset, f"the pixel masks of test clip '{clip}'", path)
        masks.append(_mask_from_npy(path, f"{dataset}/test/{clip}/mask"))
    return masks


def _benchmark_test_masks(
    dataset: str, root: Path, names: Sequence[str]
) -> list[Video | None] | None:
    """Pixel masks from ``testing/masks/<clip>/`` or ``testing/test_pixel_mask/<clip>.npy``."""
    if (root / "testing" / "masks").is_dir():
        return _masks_from_folders(dataset, root / "testing" / "masks", names)
    if (root / "testing" / "test_pixel_mask").is_dir():
        return _masks_from_npy_files(dataset, root / "testing" / "test_pixel_mask", names)
    return None


def _load_frame_benchmark(dataset: str, root: Path) -> tuple[VideoDataset, VideoDataset]:
    """Ped2 / Avenue / ShanghaiTech in the frame-folder (MNAD / official SHT) layout."""
    train = _train_split(dataset, _benchmark_train_sources(dataset, root))
    test_frames = _require_dir(
        root / "testing" / "frames", dataset, "test clips (testing/frames/<clip>/)"
    )
    sources = _require_sources(_subfolders(test_frames), dataset, "clip folder", test_frames)
    names = [p.name for p in sources]
    videos = _open_videos(dataset, "test", sources)
    labels = _benchmark_test_labels(dataset, root, videos, names)
    masks = _benchmark_test_masks(dataset, root, names)
    return train, VideoDataset(dataset, "test", videos, names, labels, masks)


# ------------------------------------------------------------------------------ UCSD


def _ucsd_folder_or_none(root: Path, subset: str) -> Path | None:
    """The folder holding ``Train/`` and ``Test/`` of ``UCSDped1`` / ``UCSDped2``, if any."""
    folder = f"UCSD{subset}"
    for candidate in (root / folder, root / "UCSD_Anomaly_Dataset.v1p2" / folder, root):
        if (candidate / "Train").is_dir() and (candidate / "Test").is_dir():
            return candidate
    return None


def _parse_matlab_ranges(text: str) -> list[Interval]:
    """1-based MATLAB ranges such as ``61:180, 200`` → 0-based inclusive intervals."""
    intervals = []
    for token in re.findall(r"\d+(?:\s*:\s*\d+){0,2}", text):
        bounds = [int(v) for v in re.split(r"\s*:\s*", token)]
        intervals.append((bounds[0] - 1, bounds[-1] - 1))
    return intervals


def _read_ucsd_m_file(path: Path) -> dict[int, list[Interval]]:
    """``TestDataset.gt_frame{k} = [a:b];`` lines → {k (1-based): intervals}."""
    pattern = re.compile(r"gt_frame\s*\{\s*(\d+)\s*\}\s*=\s*\[([^\]]*)\]")
    text = path.read_text(errors="replace")
    return {int(k): _parse_matlab_ranges(body) for k, body in pattern.findall(text)}


def _clip_number(name: str, position: int) -> int:
    """The clip number a UCSD folder name carries (``Test003`` -> 3; ``gt_frame{3}`` is its
    line), or its 1-based position when the name has no digits."""
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else position


def _labels_from_m_file(
    path: Path, videos: Sequence[Video], names: Sequence[str], dataset: str
) -> list[np.ndarray]:
    entries = _read_ucsd_m_file(path)
    labels = []
    for position, (video, name) in enumerate(zip(videos, names), start=1):
        index = _clip_number(name, position)
        if index not in entries:
            raise _missing(dataset, f"a 'gt_frame{{{index}}}' line for test clip '{name}'", path)
        labels.append(_labels_from_intervals(len(video), entries[index], video=name, source=path))
    return labels


def _labels_from_masks(masks: Sequence[Video]) -> list[np.ndarray]:
    """A frame is abnormal when its mask has any non-zero pixel (decodes every mask)."""
    return [
        np.array([np.any(mask[i]) for i in range(len(mask))], dtype=np.uint8) for mask in masks
    ]


def _ucsd_test_labels(
    folder: Path,
    subset: str,
    videos: Sequence[Video],
    names: Sequence[str],
    masks: Sequence[Video | None],
    dataset: str,
) -> list[np.ndarray]:
    m_name = f"UCSD{subset}.m"
    for m_file in (folder / "Test" / m_name, folder / m_name):
        if m_file.is_file():
            return _labels_from_m_file(m_file, videos, names, dataset)
    complete_masks = [mask for mask in masks if mask is not None]
    if masks and len(complete_masks) == len(masks):
        return _labels_from_masks(complete_masks)
    raise _missing(
        dataset, f"frame labels ({m_name}, or a <clip>_gt/ mask folder per test clip)",
        folder / "Test" / m_name,
    )


def _ucsd_masks(dataset: str, sources: Sequence[Path]) -> list[Video | None]:
    """``Test001_gt/`` mask folder next to each ``Test001/`` clip, or None where absent."""
    masks: list[Video | None] = []
    for source in sources:
        gt = source.with_name(f"{source.name}_gt")
        if gt.is_dir():
            masks.append(Video(str(gt), name=f"{dataset}/test/{gt.name}", grayscale=True))
        else:
            masks.append(None)
    return masks


def _load_ucsd(dataset: str, root: Path, *, subset: str) -> tuple[VideoDataset, VideoDataset]:
    """UCSD Ped1 / Ped2 in the original archive layout."""
    folder = _ucsd_folder_or_none(root, subset)
    if folder is None:
        layout = f"the UCSD layout UCSD{subset}/Train/ and UCSD{subset}/Test/"
        raise _missing(dataset, layout, root)
    train_sources = _subfolders(folder / "Train", r"Train\d+")
    train = _train_split(
        dataset, _require_sources(train_sources, dataset, "TrainNNN folder", folder / "Train")
    )
    test_sources = _subfolders(folder / "Test", r"Test\d+")
    sources = _require_sources(test_sources, dataset, "TestNNN folder", folder / "Test")
    names = [p.name for p in sources]
    videos = _open_videos(dataset, "test", sources)
    masks = _ucsd_masks(dataset, sources)
    labels = _ucsd_test_labels(folder, subset, videos, names, masks, dataset)
    if all(mask is None for mask in masks):
        return train, VideoDataset(dataset, "test", videos, names, labels)
    return train, VideoDataset(dataset, "test", videos, names, labels, masks)


# -------------------------------------------------------------------------- UBnormal


def _read_name_list(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _ubnormal_split_files(root: Path) -> Path | None:
    """The folder holding the official ``*_video_names.txt`` files, if any."""
    for folder in (root, root / "scripts"):
        if (folder / "normal_training_video_names.txt").is_file():
            return folder
    return None


def _read_official_split(folder: Path, split: str, kinds: Sequence[str]) -> list[str]:
    """Video names of ``<kind>_<split>_video_names.txt`` for each kind, naturally sorted."""
    names: list[str] = []
    for kind in kinds:
        path = folder / f"{kind}_{split}_video_names.txt"
        if not path.is_file():
            raise _missing("ubnormal", "an official split file", path)
        names += _read_name_list(path)
    return sorted(names, key=natural_key)


def _ubnormal_split_names(
    root: Path, all_names: Sequence[str], include_abnormal_train: bool, test_split: str
) -> tuple[list[str], list[str]]:
    """(train, test) video names: official split files if present, else normal / abnormal."""
    folder = _ubnormal_split_files(root)
    if folder is None:
        train = [n for n in all_names if n.startswith("normal_")]
        test = [n for n in all_names if n.startswith("abnormal_")]
        return train, test
    train_kinds = ("normal", "abnormal") if include_abnormal_train else ("normal",)
    return (
        _read_official_split(folder, "training", train_kinds),
        _read_official_split(folder, test_split, ("normal", "abnormal")),
    )


def _ubnormal_labels(name: str, path: Path, video: Video) -> np.ndarray:
    if not name.startswith("abnormal_"):
        return np.zeros(len(video), dtype=np.uint8)
    tracks = path.parent / f"{name}_annotations" / f"{name}_tracks.txt"
    if not tracks.is_file():
        raise _missing("ubnormal", f"the abnormal tracks of video '{name}'", tracks)
    rows = _read_array(tracks, np.loadtxt, delimiter=",", ndmin=2)
    intervals = [(int(row[1]), int(row[2])) for row in rows]
    return _labels_from_intervals(len(video), intervals, video=name, source=tracks)


def _ubnormal_split(
    split: str, names: Sequence[str], paths: dict[str, Path], root: Path
) -> VideoDataset:
    for name in names:
        if name not in paths:
            raise _missing("ubnormal", f"video '{name}' (Scene*/{name}.mp4)", root)
    sources = [paths[name] for name in names]
    videos = _open_videos("ubnormal", split, sources)
    labels = [_ubnormal_labels(n, p, v) for n, p, v in zip(names, sources, videos)]
    return VideoDataset("ubnormal", split, videos, list(names), labels)


def _load_ubnormal(
    root: Path, *, include_abnormal_train: bool = False, test_split: str = "test"
) -> tuple[VideoDataset, VideoDataset]:
    """UBnormal: ``Scene*/*.mp4`` with ``*_tracks.txt`` annotations."""
    if test_split not in _UBNORMAL_TEST_SPLITS:
        raise ValueError(
            f"test_split must be one of {_UBNORMAL_TEST_SPLITS}; got {test_split!r}."
        )
    paths = {p.stem: p for p in root.glob("Scene*/*.mp4")}
    if not paths:
        raise _missing("ubnormal", "videos Scene*/*.mp4", root)
    names = sorted(paths, key=natural_key)
    train_names, test_names = _ubnormal_split_names(
        root, names, include_abnormal_train, test_split
    )
    return (
        _ubnormal_split("train", train_names, paths, root),
        _ubnormal_split("test", test_names, paths, root),
    )


# ---------------------------------------------------------------------------- folder


def _read_interval_csv(path: Path) -> dict[str, list[Interval]]:
    """``video,start,end`` rows → {video: 0-based inclusive intervals}."""
    intervals: dict[str, list[Interval]] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:  # Excel's "CSV UTF-8" starts with a BOM
        reader = csv.DictReader(handle)
        missing = {"video", "start", "end"} - set(reader.fieldnames or ())
        if missing:
            raise InvalidVideoError(
                f"Label file '{path}' lacks the column(s) {sorted(missing)}; expected the "
                "header 'video,start,end'."
            )
        for line, row in enumerate(reader, start=2):
            try:
                interval = (int(row["start"]), int(row["end"]))
            except (TypeError, ValueError) as exc:
                raise InvalidVideoError(
                    f"Label file '{path}', line {line}: start/end must be integers; got "
                    f"{row['start']!r}, {row['end']!r}."
                ) from exc
            video = (row["video"] or "").strip()
            if not video:
                raise InvalidVideoError(f"Label file '{path}', line {line}: the video column is empty.")
            intervals.setdefault(video, []).append(interval)
    return intervals


def _labels_by_name(
    path: Path, intervals: Mapping[str, list[Interval]], n_frames: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """0/1 labels of every video in ``n_frames`` from its intervals (none: all normal)."""
    return {
        name: _labels_from_intervals(int(count), intervals.get(name, []), video=name, source=path)
        for name, count in n_frames.items()
    }


def read_interval_labels(
    path: str | os.PathLike[str], n_frames: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """Frame labels from a CSV of abnormal intervals (the ``test_labels.csv`` format).

    Parameters
    ----------
    path : str or os.PathLike
        CSV file with the header ``video,start,end`` (further columns are ignored) and
        one row per abnormal interval, 0-based inclusive frames.
    n_frames : mapping of str to int
        Number of frames of every video, by the names the ``video`` column uses
        (e.g. ``{Path(v.name).name: len(v) for v in videos}``).

    Returns
    -------
    dict of str to numpy.ndarray
        Per video of ``n_frames``, ``uint8`` 0/1 labels, one per frame; videos without a
        row are all normal.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    InvalidVideoError
        A missing column, a malformed row (the message names the file and line), an
        interval outside its video, or a video not in ``n_frames``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = path.write_text("video,start,end\\ncam1,1,2\\n")
    >>> {k: v.tolist() for k, v in read_interval_labels(path, {"cam1": 4, "cam2": 2}).items()}
    {'cam1': [0, 1, 1, 0], 'cam2': [0, 0]}
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Label file '{path}' does not exist.")
    intervals = _read_interval_csv(path)
    unknown = sorted(set(intervals) - set(n_frames))
    if unknown:
        raise InvalidVideoError(
            f"Label file '{path}' names the videos {unknown}, which are not among the given "
            f"videos {sorted(n_frames)}."
        )
    return _labels_by_name(path, intervals, n_frames)


def _folder_test_labels(
    path: Path, videos: Sequence[Video], names: Sequence[str]
) -> list[np.ndarray]:
    intervals = _read_interval_csv(path)
    unknown = sorted(set(intervals) - set(names))
    if unknown:
        what = f"test videos {unknown} named in '{path.name}'"
        raise _missing("folder", what, path.parent / "test")
    labels = _labels_by_name(path, intervals, {name: len(video) for name, video in zip(names, videos)})
    return [labels[name] for name in names]


def _folder_sources(root: Path, split: str) -> list[Path]:
    folder = _require_dir(root / split, "folder", f"a '{split}' folder of videos or frame folders")
    return _require_sources(_video_sources(folder), "folder", "video file or frame folder", folder)


def _load_folder(root: Path) -> tuple[VideoDataset, VideoDataset]:
    """A plain ``train/`` + ``test/`` folder with optional ``test_labels.csv``."""
    train = _train_split("folder", _folder_sources(root, "train"))
    sources = _folder_sources(root, "test")
    names = [_source_name(p) for p in sources]
    videos = _open_videos("folder", "test", sources)
    csv_path = root / "test_labels.csv"
    labels = _folder_test_labels(csv_path, videos, names) if csv_path.is_file() else None
    return train, VideoDataset("folder", "test", videos, names, labels)


# ------------------------------------------------------------------------ public API


def _load_ped2(root: Path) -> tuple[VideoDataset, VideoDataset]:
    """Ped2 in the frame-folder layout, or else in the original UCSD layout."""
    if not (root / "training").is_dir() and _ucsd_folder_or_none(root, "ped2") is not None:
        return _load_ucsd("ped2", root, subset="ped2")
    return _load_frame_benchmark("ped2", root)


_LOADERS: dict[str, Callable[..., tuple[VideoDataset, VideoDataset]]] = {
    "ped2": _load_ped2,
    "avenue": partial(_load_frame_benchmark, "avenue"),
    "shanghaitech": partial(_load_frame_benchmark, "shanghaitech"),
    "ucsd_ped1": partial(_load_ucsd, "ucsd_ped1", subset="ped1"),
    "ucsd_ped2": partial(_load_ucsd, "ucsd_ped2", subset="ped2"),
    "ubnormal": _load_ubnormal,
    "folder": _load_folder,
}
_LOADER_OPTIONS = {"ubnormal": ("include_abnormal_train", "test_split")}

#: Names accepted by :func:`load_dataset`.
DATASET_NAMES: tuple[str, ...] = tuple(_LOADERS)


def load_dataset(
    name: str, root: str | os.PathLike[str], **kwargs: object
) -> tuple[VideoDataset, VideoDataset]:
    """Load the train and test splits of a benchmark (or of a folder) found under ``root``.

    Only metadata is read; frames are decoded lazily. The layouts are described in the
    :mod:`pyvad.datasets` module docstring.

    Parameters
    ----------
    name : str
        One of ``DATASET_NAMES``: ``"ped2"``, ``"avenue"``, ``"shanghaitech"``,
        ``"ucsd_ped1"``, ``"ucsd_ped2"``, ``"ubnormal"``, ``"folder"`` (case-insensitive).
    root : str or os.PathLike
        Folder holding the dataset.
    **kwargs
        Options of the loader. ``"ubnormal"``: ``include_abnormal_train`` (bool, default
        False) and ``test_split`` (``"test"`` or ``"validation"``). Others take none.

    Returns
    -------
    train, test : VideoDataset
        The training split (labels all zero) and the test split.

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    DatasetNotFoundError
        If ``root`` or a required folder or label file is missing (the message names the
        expected path and the dataset's official page).
    InvalidVideoError
        If labels or masks do not have one entry per frame of their video.

    Examples
    --------
    >>> train, test = load_dataset("ped2", "path/to/ped2")  # doctest: +SKIP
    >>> len(test), test.n_frames, int(test.frame_labels_flat.sum())  # doctest: +SKIP
    (12, 2010, 1648)
    """
    key = str(name).lower()
    if key not in _LOADERS:
        raise ValueError(f"Unknown dataset {name!r}; valid names are {', '.join(DATASET_NAMES)}.")
    unknown = sorted(set(kwargs) - set(_LOADER_OPTIONS.get(key, ())))
    if unknown:
        raise TypeError(
            f"load_dataset({key!r}) got unknown option(s) {unknown}; valid options are "
            f"{list(_LOADER_OPTIONS.get(key, ()))}."
        )
    path = Path(root)
    if not path.is_dir():
        raise _missing(key, "the dataset folder", path)
    return _LOADERS[key](path, **kwargs)


_VEC_SPLITS = (("train", "training"), ("test", "testing"))


def load_vec_boxes(name: str, root: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Object boxes of both splits from ``root/boxes_vec/{training,testing}.npz``.

    The VEC authors (Yu et al., "Cloze Test Helps", ACM MM 2020) released per-frame object
    boxes for the benchmarks in this layout. The two files are merged into one table whose
    clip names are the names :func:`load_dataset` gives the videos (``ped2/train/01``,
    ``ped2/test/01`` ...), so a single :class:`~pyvad.foreground.PrecomputedBoxes` serves
    training and test videos alike (fit on one split, score the other).

    Parameters
    ----------
    name : str
        Dataset name used in the video names, as passed to :func:`load_dataset`.
    root : str or os.PathLike
        Dataset folder holding ``boxes_vec/``.

    Returns
    -------
    dict
        ``boxes`` (N, 4) float32 ``x1, y1, x2, y2``; ``video`` (N,) and ``frame`` (N,) int64;
        ``clips`` (tuple of names): what ``PrecomputedBoxes(boxes=...)`` takes.

    Raises
    ------
    DatasetNotFoundError
        If a box file is missing.

    Examples
    --------
    >>> from pyvad.foreground import PrecomputedBoxes
    >>> boxes = load_vec_boxes("ped2", "path/to/ped2")  # doctest: +SKIP
    >>> extractor = PrecomputedBoxes(boxes, match="name", offsets=(-1, 0, 1))  # doctest: +SKIP
    """
    from pyvad.foreground.precomputed import load_box_table

    key = str(name).lower()
    parts: dict[str, list[np.ndarray]] = {"boxes": [], "video": [], "frame": []}
    clips: list[str] = []
    for split, stem in _VEC_SPLITS:
        path = Path(root) / "boxes_vec" / f"{stem}.npz"
        if not path.is_file():
            raise _missing(key, f"the VEC box file of the {split} split", path)
        table = load_box_table(path)
        names = table.clips or tuple(f"{i + 1:02d}" for i in range(table.n_clips))
        parts["boxes"].append(table.boxes)
        parts["video"].append(table.video + len(clips))
        parts["frame"].append(table.frame)
        clips.extend(f"{key}/{split}/{clip}" for clip in names)
    return {**{field: np.concatenate(values) for field, values in parts.items()}, "clips": tuple(clips)}

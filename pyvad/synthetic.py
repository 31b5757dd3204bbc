"""Synthetic surveillance videos with injectable anomalies.

The videos imitate a fixed camera looking at a one-way walkway: a static, smoothly
textured background crossed by small upright "pedestrians" that walk from left to right
along horizontal lanes at a steady 1-2 pixels per frame, entering and leaving the view,
under a little Gaussian sensor noise. That is the whole definition of *normal*.

An anomalous video contains one extra object that enters the view at an onset frame and
breaks exactly one rule of the normal scene. The kinds, listed in :data:`ANOMALY_KINDS`:

``"fast"``
    A pedestrian running along a lane at 4-6 times the mean walking speed.
``"wrong_direction"``
    A pedestrian walking at normal speed either against the flow (right to left) or
    vertically across the lanes (chosen at random).
``"shape"``
    A wide, low box (a cart or bike) instead of an upright person, at walking speed.
``"size"``
    A pedestrian 2-3 times the normal height and width, at walking speed.

The anomalous object is drawn last, so its pixel mask is exact, and a frame is labelled
abnormal exactly when some of its pixels are in view. Everything is drawn from one seed,
so the same ``random_state`` always gives identical arrays; videos made with the same
``scene_seed`` share the background and the lanes (the same camera).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real

import cv2
import numpy as np

__all__ = ["ANOMALY_KINDS", "SyntheticVideos", "make_train_test", "make_videos"]

_WALK_SPEED = (1.0, 2.0)  # normal walking speed range, pixels per frame
_PERSON_HEIGHT = (0.16, 0.22)  # person height range, as a fraction of the frame height
_PERSON_ASPECT = (0.4, 0.5)  # person width / height
_PERSON_GREY = (35.0, 70.0)  # person intensity range (the background is much brighter)
_BACKGROUND_GREY = (120.0, 190.0)
_MIN_FRAME_SIDE = 16


@dataclass
class SyntheticVideos:
    """A set of synthetic videos with frame labels and pixel masks.

    Attributes
    ----------
    videos : list of ndarray
        One ``uint8`` array of shape ``(T, H, W, C)`` per video, RGB when ``C == 3``.
    frame_labels : list of ndarray
        One ``uint8`` array of shape ``(T,)`` per video: 1 where the anomalous object is in
        view, 0 elsewhere.
    masks : list of ndarray
        One ``uint8`` array of shape ``(T, H, W)`` per video marking the pixels of the
        anomalous object with 1.
    names : list of str
        One identifier per video, such as ``"test_03"``.
    kinds : list of str or None
        The anomaly kind injected in each video, ``None`` for a normal video.
    """

    videos: list[np.ndarray]
    frame_labels: list[np.ndarray]
    masks: list[np.ndarray]
    names: list[str]
    kinds: list[str | None] = field(default_factory=list)

    @property
    def frame_labels_flat(self) -> np.ndarray:
        """Frame labels of all videos concatenated in order, as one ``uint8`` array."""
        if not self.frame_labels:
            return np.zeros(0, dtype=np.uint8)
        return np.concatenate(self.frame_labels)


@dataclass
class _Scene:
    """The static part shared by all videos of one camera."""

    background: np.ndarray  # float32 (H, W, C)
    lane_centres: np.ndarray  # float64 (n_lanes,), row of each lane's centre line

    @property
    def height(self) -> int:
        return self.background.shape[0]

    @property
    def width(self) -> int:
        return self.background.shape[1]


@dataclass
class _Track:
    """One object: its silhouette, its colour and its top-left corner in every frame.

    ``x`` and ``y`` are NaN in the frames where the object does not exist.
    """

    sprite: np.ndarray  # bool (h, w)
    colour: np.ndarray  # float32 (C,)
    x: np.ndarray  # float64 (T,)
    y: np.ndarray  # float64 (T,)


# --------------------------------------------------------------------------- shapes


def _rounded_box(height: int, width: int, radius: float) -> np.ndarray:
    """Boolean silhouette of a ``height x width`` rectangle with rounded corners."""
    rows = np.arange(height) + 0.5
    cols = np.arange(width) + 0.5
    dy = np.maximum(np.maximum(radius - rows, rows - (height - radius)), 0.0)
    dx = np.maximum(np.maximum(radius - cols, cols - (width - radius)), 0.0)
    return dy[:, None] ** 2 + dx[None, :] ** 2 <= radius**2


def _person_size(rng: np.random.Generator, frame_height: int) -> tuple[int, int]:
    """Height and width of one normal pedestrian."""
    height = max(4, round(rng.uniform(*_PERSON_HEIGHT) * frame_height))
    width = max(2, round(height * rng.uniform(*_PERSON_ASPECT)))
    return height, width


def _person_sprite(height: int, width: int) -> np.ndarray:
    """An upright capsule: the silhouette of a pedestrian seen from afar."""
    return _rounded_box(height, width, radius=width / 2)


def _object_colour(rng: np.random.Generator, channels: int) -> np.ndarray:
    """A dark clothing colour: one grey level with a slight per-channel tint."""
    grey = rng.uniform(*_PERSON_GREY)
    tint = rng.uniform(-10.0, 10.0, size=3)
    colour = grey + tint if channels == 3 else np.array([grey])
    return colour.astype(np.float32)


# --------------------------------------------------------------------------- scene


def _smooth_texture(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Random values on a coarse grid of ``cell``-pixel spacing, upsampled smoothly."""
    coarse = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _make_scene(seed: int, frame_size: tuple[int, int], channels: int) -> _Scene:
    """Background texture and lane positions of the camera identified by ``seed``."""
    rng = np.random.default_rng(seed)
    height, width = frame_size
    low, high = _BACKGROUND_GREY
    grey = low + (high - low) * _smooth_texture(rng, height, width, cell=8)
    background = grey[..., None]
    if channels == 3:
        tints = [20.0 * (_smooth_texture(rng, height, width, cell=16) - 0.5) for _ in range(3)]
        background = background + np.stack(tints, axis=-1)
    return _Scene(np.clip(background, 0, 255).astype(np.float32), _lane_centres(rng, height))


def _lane_centres(rng: np.random.Generator, frame_height: int) -> np.ndarray:
    """Rows of the lanes' centre lines, spread evenly with a small random shift."""
    tallest = _PERSON_HEIGHT[1] * frame_height
    n_lanes = max(1, int(frame_height // (1.5 * tallest)))
    margin = tallest / 2 + 1
    centres = np.linspace(margin, frame_height - margin, n_lanes)
    return centres + rng.uniform(-1.0, 1.0, size=n_lanes)


# --------------------------------------------------------------------------- paths


def _lane_top(scene: _Scene, lane: int, sprite_height: int) -> float:
    """Top row that centres a sprite on a lane while keeping it inside the frame."""
    top = scene.lane_centres[lane] - sprite_height / 2
    return float(np.clip(top, 0, scene.height - sprite_height))


def _looping_walk(
    rng: np.random.Generator, scene: _Scene, sprite: np.ndarray, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame top-left ``x, y`` of a left-to-right walk along a random lane.

    The walker leaves on the right and re-enters on the left, out of view in between.
    """
    sprite_height, sprite_width = sprite.shape
    period = scene.width + 2 * sprite_width
    start = rng.uniform(0, period)
    x = (start + _walking_speed(rng) * np.arange(n_frames)) % period - sprite_width
    top = _lane_top(scene, _random_lane(rng, scene), sprite_height) + rng.uniform(-1.0, 1.0)
    return x, np.full(n_frames, top)


def _entering_path(
    n_frames: int, onset: int, sprite: np.ndarray, scene: _Scene, velocity: tuple[float, float], across: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame top-left ``x, y`` of a straight path entering the view at ``onset``.

    ``velocity`` is ``(vx, vy)`` in pixels per frame with exactly one non-zero component;
    the object comes in through the edge it moves away from, its leading edge already one
    step inside the view at the onset frame. ``across`` is the fixed other coordinate (the
    top row for horizontal motion, the left column for vertical motion). Coordinates are
    NaN before the onset.
    """
    steps = np.arange(n_frames) - onset + 1.0
    x = _entering_coordinate(steps, velocity[0], sprite.shape[1], scene.width, across)
    y = _entering_coordinate(steps, velocity[1], sprite.shape[0], scene.height, across)
    x[steps < 1] = np.nan
    y[steps < 1] = np.nan
    return x, y


def _entering_coordinate(steps: np.ndarray, speed: float, extent: int, view: int, fixed: float) -> np.ndarray:
    """One coordinate of :func:`_entering_path`: moving in from an edge, or ``fixed``."""
    if speed > 0:
        return -extent + speed * steps
    if speed < 0:
        return view + speed * steps
    return np.full(len(steps), fixed)


def _walking_speed(rng: np.random.Generator) -> float:
    """A normal walking speed, in pixels per frame."""
    return rng.uniform(*_WALK_SPEED)


def _random_lane(rng: np.random.Generator, scene: _Scene) -> int:
    """Index of a lane chosen uniformly."""
    return int(rng.integers(len(scene.lane_centres)))


# --------------------------------------------------------------------------- anomalies


def _along_lane(
    rng: np.random.Generator, scene: _Scene, sprite: np.ndarray, n_frames: int, onset: int, vx: float
) -> tuple[np.ndarray, np.ndarray]:
    """Path entering at ``onset`` and moving horizontally at ``vx`` along a random lane."""
    top = _lane_top(scene, _random_lane(rng, scene), sprite.shape[0])
    return _entering_path(n_frames, onset, sprite, scene, (vx, 0.0), across=top)


def _fast(rng: np.random.Generator, scene: _Scene, n_frames: int, onset: int, channels: int) -> _Track:
    """A pedestrian running left to right at 4-6 times the mean walking speed."""
    sprite = _person_sprite(*_person_size(rng, scene.height))
    speed = rng.uniform(4.0, 6.0) * float(np.mean(_WALK_SPEED))
    return _Track(sprite, _object_colour(rng, channels), *_along_lane(rng, scene, sprite, n_frames, onset, speed))


def _wrong_direction(rng: np.random.Generator, scene: _Scene, n_frames: int, onset: int, channels: int) -> _Track:
    """A pedestrian at walking speed going right to left, or up or down across the lanes."""
    sprite = _person_sprite(*_person_size(rng, scene.height))
    speed = _walking_speed(rng)
    colour = _object_colour(rng, channels)
    heading = int(rng.integers(3))
    if heading == 0:
        return _Track(sprite, colour, *_along_lane(rng, scene, sprite, n_frames, onset, -speed))
    left = rng.uniform(0, scene.width - sprite.shape[1])
    vy = speed if heading == 1 else -speed
    return _Track(sprite, colour, *_entering_path(n_frames, onset, sprite, scene, (0.0, vy), across=left))


def _shape(rng: np.random.Generator, scene: _Scene, n_frames: int, onset: int, channels: int) -> _Track:
    """A wide, low box (cart or bike) moving left to right at walking speed."""
    person_height, _ = _person_size(rng, scene.height)
    height = max(3, round(0.6 * person_height))
    width = min(round(rng.uniform(2.0, 2.5) * person_height), scene.width)
    sprite = _rounded_box(height, width, radius=height / 4)
    path = _along_lane(rng, scene, sprite, n_frames, onset, _walking_speed(rng))
    return _Track(sprite, _object_colour(rng, channels), *path)


def _size(rng: np.random.Generator, scene: _Scene, n_frames: int, onset: int, channels: int) -> _Track:
    """A pedestrian 2-3 times the normal height and width, at walking speed."""
    height, width = _person_size(rng, scene.height)
    scale = rng.uniform(2.0, 3.0)
    sprite = _person_sprite(min(round(scale * height), scene.height), round(scale * width))
    path = _along_lane(rng, scene, sprite, n_frames, onset, _walking_speed(rng))
    return _Track(sprite, _object_colour(rng, channels), *path)


_AnomalyMaker = Callable[[np.random.Generator, _Scene, int, int, int], _Track]

_ANOMALIES: dict[str, _AnomalyMaker] = {
    "fast": _fast,
    "wrong_direction": _wrong_direction,
    "shape": _shape,
    "size": _size,
}

#: Names of the anomaly kinds :func:`make_videos` can inject.
ANOMALY_KINDS: tuple[str, ...] = tuple(_ANOMALIES)


# --------------------------------------------------------------------------- rendering


def _paste(frames: np.ndarray, track: _Track, mask: np.ndarray | None = None) -> None:
    """Draw ``track`` into ``frames`` in place, and mark its pixels in ``mask`` if given."""
    sprite_height, sprite_width = track.sprite.shape
    _, height, width, _ = frames.shape
    for t in np.flatnonzero(np.isfinite(track.x)):
        left, top = int(round(track.x[t])), int(round(track.y[t]))
        x0, x1 = max(left, 0), min(left + sprite_width, width)
        y0, y1 = max(top, 0), min(top + sprite_height, height)
        if x0 >= x1 or y0 >= y1:
            continue
        visible = track.sprite[y0 - top : y1 - top, x0 - left : x1 - left]
        frames[t, y0:y1, x0:x1][visible] = track.colour
        if mask is not None:
            mask[t, y0:y1, x0:x1][visible] = 1


def _add_noise(rng: np.random.Generator, frames: np.ndarray, noise: float) -> np.ndarray:
    """Add Gaussian sensor noise of standard deviation ``noise`` and quantise to uint8.

    ``frames`` (float32) is used as scratch space and overwritten.
    """
    if noise > 0:
        sample = rng.standard_normal(frames.shape, dtype=np.float32)
        sample *= noise
        frames += sample
    np.rint(frames, out=frames)
    np.clip(frames, 0, 255, out=frames)
    return frames.astype(np.uint8)


def _render_video(
    rng: np.random.Generator, scene: _Scene, n_frames: int, n_objects: int, noise: float, anomaly: _Track | None
) -> tuple[np.ndarray, np.ndarray]:
    """One video and the mask of its anomalous object (all zeros without one)."""
    frames = np.repeat(scene.background[None], n_frames, axis=0)
    channels = frames.shape[-1]
    for _ in range(n_objects):
        sprite = _person_sprite(*_person_size(rng, scene.height))
        colour = _object_colour(rng, channels)
        _paste(frames, _Track(sprite, colour, *_looping_walk(rng, scene, sprite, n_frames)))
    mask = np.zeros(frames.shape[:3], dtype=np.uint8)
    if anomaly is not None:
        _paste(frames, anomaly, mask)
    return _add_noise(rng, frames, noise), mask


# --------------------------------------------------------------------------- validation


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_frame_size(frame_size: object) -> tuple[int, int]:
    valid = (
        isinstance(frame_size, Sequence)
        and len(frame_size) == 2
        and all(isinstance(s, Integral) and not isinstance(s, bool) and s >= _MIN_FRAME_SIDE for s in frame_size)
    )
    if not valid:
        raise ValueError(
            f"frame_size must be a pair of integers (height, width), each >= {_MIN_FRAME_SIDE}, got {frame_size!r}."
        )
    return int(frame_size[0]), int(frame_size[1])


def _check_kinds(anomaly: str | Sequence[str] | None) -> list[str]:
    kinds = [] if anomaly is None else [anomaly] if isinstance(anomaly, str) else list(anomaly)
    unknown = [kind for kind in kinds if kind not in _ANOMALIES]
    if unknown:
        raise ValueError(f"Unknown anomaly kind(s) {unknown!r}; valid kinds are {list(ANOMALY_KINDS)}.")
    if anomaly is not None and not kinds:
        raise ValueError("anomaly must name at least one kind, or be None for normal videos; got an empty sequence.")
    return kinds


def _check_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}.")
    return float(value)


def _check_onset(anomaly_onset: object) -> tuple[float, float]:
    valid = (
        isinstance(anomaly_onset, Sequence)
        and len(anomaly_onset) == 2
        and all(isinstance(v, Real) and not isinstance(v, bool) for v in anomaly_onset)
        and 0.0 <= anomaly_onset[0] <= anomaly_onset[1] < 1.0
    )
    if not valid:
        raise ValueError(f"anomaly_onset must be a pair (low, high) with 0 <= low <= high < 1, got {anomaly_onset!r}.")
    return float(anomaly_onset[0]), float(anomaly_onset[1])


def _check_noise(noise: object) -> float:
    if isinstance(noise, bool) or not isinstance(noise, Real) or not 0.0 <= noise < np.inf:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}.")
    return float(noise)


def _check_channels(channels: object) -> int:
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}.")
    return int(channels)


# --------------------------------------------------------------------------- public API


def _anomaly_plan(rng: np.random.Generator, n_videos: int, kinds: list[str], fraction: float) -> list[str | None]:
    """Kind injected in each video: ``round(fraction * n_videos)`` random videos, kinds in turn."""
    if not kinds:
        return [None] * n_videos
    chosen = np.sort(rng.choice(n_videos, size=round(fraction * n_videos), replace=False))
    plan: list[str | None] = [None] * n_videos
    for turn, video in enumerate(chosen):
        plan[video] = kinds[turn % len(kinds)]
    return plan


def make_videos(
    n_videos: int = 4,
    n_frames: int = 64,
    frame_size: tuple[int, int] = (64, 96),
    *,
    n_objects: int = 3,
    anomaly: str | Sequence[str] | None = None,
    anomaly_fraction: float = 1.0,
    anomaly_onset: tuple[float, float] = (0.25, 0.5),
    noise: float = 2.0,
    channels: int = 3,
    scene_seed: int | None = None,
    random_state: int | None = 0,
    name_prefix: str = "video",
) -> SyntheticVideos:
    """Make synthetic walkway videos, optionally with one anomalous object each.

    Normal pedestrians walk left to right along horizontal lanes at 1-2 pixels per frame,
    entering and leaving the view. In an anomalous video one extra object enters the view
    at an onset frame and stays until it leaves it or the video ends; see the module
    documentation for what each kind does.

    Parameters
    ----------
    n_videos : int, default=4
        Number of videos, >= 1.
    n_frames : int, default=64
        Frames per video, >= 2.
    frame_size : tuple of int, default=(64, 96)
        ``(height, width)`` in pixels, each >= 16.
    n_objects : int, default=3
        Normal pedestrians per video, >= 0.
    anomaly : str or sequence of str or None, default=None
        Kind(s) of anomaly to inject, from :data:`ANOMALY_KINDS`. ``None`` makes normal
        videos only. With several kinds the anomalous videos take them in turn.
    anomaly_fraction : float, default=1.0
        Share of the videos that receive an anomaly (``round(anomaly_fraction * n_videos)``
        videos, chosen at random). Ignored when ``anomaly`` is ``None``.
    anomaly_onset : tuple of float, default=(0.25, 0.5)
        Range, as fractions of ``n_frames``, from which the onset frame of each anomaly is
        drawn uniformly.
    noise : float, default=2.0
        Standard deviation of the Gaussian sensor noise, in grey levels.
    channels : {1, 3}, default=3
        3 for RGB frames, 1 for grey frames.
    scene_seed : int or None, default=None
        Seed of the static scene (background and lanes). Videos made with the same
        ``scene_seed`` come from the same camera. ``None`` draws it from ``random_state``.
    random_state : int or None, default=0
        Seed of everything else; the same value gives identical arrays.
    name_prefix : str, default="video"
        Videos are named ``f"{name_prefix}_{index:02d}"``.

    Returns
    -------
    SyntheticVideos
        Videos ``uint8 (n_frames, H, W, channels)``, frame labels, pixel masks, names and
        the kind injected in each video.

    Raises
    ------
    ValueError
        If a parameter is out of range or ``anomaly`` names an unknown kind.

    Examples
    --------
    >>> from pyvad.synthetic import make_videos
    >>> data = make_videos(n_videos=2, n_frames=16, anomaly="fast", random_state=0)
    >>> data.videos[0].shape, data.videos[0].dtype
    ((16, 64, 96, 3), dtype('uint8'))
    >>> data.kinds
    ['fast', 'fast']
    """
    n_videos = _check_int("n_videos", n_videos, 1)
    n_frames = _check_int("n_frames", n_frames, 2)
    frame_size = _check_frame_size(frame_size)
    n_objects = _check_int("n_objects", n_objects, 0)
    kinds = _check_kinds(anomaly)
    fraction = _check_fraction("anomaly_fraction", anomaly_fraction)
    onset_range = _check_onset(anomaly_onset)
    noise = _check_noise(noise)
    channels = _check_channels(channels)

    rng = np.random.default_rng(random_state)
    scene_rng_seed = int(rng.integers(2**32)) if scene_seed is None else scene_seed
    scene = _make_scene(scene_rng_seed, frame_size, channels)
    plan = _anomaly_plan(rng, n_videos, kinds, fraction)

    data = SyntheticVideos([], [], [], [], [])
    for index, kind in enumerate(plan):
        anomaly_track = None
        if kind is not None:
            onset = min(int(rng.uniform(*onset_range) * n_frames), n_frames - 1)
            anomaly_track = _ANOMALIES[kind](rng, scene, n_frames, onset, channels)
        video, mask = _render_video(rng, scene, n_frames, n_objects, noise, anomaly_track)
        data.videos.append(video)
        data.masks.append(mask)
        data.frame_labels.append(mask.any(axis=(1, 2)).astype(np.uint8))
        data.names.append(f"{name_prefix}_{index:02d}")
        data.kinds.append(kind)
    return data


def make_train_test(
    n_train: int = 4,
    n_test: int = 4,
    n_frames: int = 64,
    frame_size: tuple[int, int] = (64, 96),
    *,
    anomalies: str | Sequence[str] = ("fast", "wrong_direction", "shape", "size"),
    n_objects: int = 3,
    noise: float = 2.0,
    channels: int = 3,
    random_state: int | None = 0,
) -> tuple[SyntheticVideos, SyntheticVideos]:
    """Make a training set of normal videos and a test set of the same scene with anomalies.

    Both sets share one camera (background and lanes). Every test video contains one
    anomalous object; the test videos take the kinds in ``anomalies`` in turn.

    Parameters
    ----------
    n_train, n_test : int, default=4
        Number of training (normal) and test (anomalous) videos, each >= 1.
    n_frames : int, default=64
        Frames per video, >= 2.
    frame_size : tuple of int, default=(64, 96)
        ``(height, width)`` in pixels, each >= 16.
    anomalies : str or sequence of str, default=("fast", "wrong_direction", "shape", "size")
        Anomaly kinds for the test videos, from :data:`ANOMALY_KINDS`.
    n_objects : int, default=3
        Normal pedestrians per video.
    noise : float, default=2.0
        Standard deviation of the Gaussian sensor noise, in grey levels.
    channels : {1, 3}, default=3
        3 for RGB frames, 1 for grey frames.
    random_state : int or None, default=0
        Seed; the same value gives identical arrays.

    Returns
    -------
    train, test : SyntheticVideos
        Videos named ``train_XX`` (all labels 0) and ``test_XX``.

    Raises
    ------
    ValueError
        If a parameter is out of range or ``anomalies`` is empty or names an unknown kind.

    Examples
    --------
    >>> from pyvad.synthetic import make_train_test
    >>> train, test = make_train_test(n_train=2, n_test=2, n_frames=32)
    >>> int(train.frame_labels_flat.sum()), bool(test.frame_labels_flat.any())
    (0, True)
    """
    if anomalies is None:
        raise ValueError(f"anomalies must name at least one kind from {list(ANOMALY_KINDS)}, got None.")
    seeds = np.random.default_rng(random_state).integers(2**32, size=3)
    common = {
        "n_frames": n_frames,
        "frame_size": frame_size,
        "n_objects": n_objects,
        "noise": noise,
        "channels": channels,
        "scene_seed": int(seeds[0]),
    }
    train = make_videos(n_train, random_state=int(seeds[1]), name_prefix="train", **common)
    test = make_videos(n_test, anomaly=anomalies, random_state=int(seeds[2]), name_prefix="test", **common)
    return train, test

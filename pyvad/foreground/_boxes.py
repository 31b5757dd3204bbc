"""Box arithmetic shared by the extractors (VEC's conventions)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["boxes_from_mask", "clip_boxes", "empty_boxes", "enlarge_boxes", "prune_covered", "zero_boxes"]


def empty_boxes() -> np.ndarray:
    """A ``(0, 4)`` float32 box array."""
    return np.zeros((0, 4), dtype=np.float32)


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Clip ``x1, y1, x2, y2`` boxes to ``[0, width] x [0, height]``.

    Parameters
    ----------
    boxes : array-like of shape (K, 4)
        ``x1, y1, x2, y2`` in pixels (any shape with a multiple of 4 values).
    height, width : int
        Image size in pixels.

    Returns
    -------
    ndarray of shape (K, 4), float32
        A clipped copy; ``boxes`` is not changed.
    """
    out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    out[:, 0::2] = np.clip(out[:, 0::2], 0, width)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, height)
    return out


def enlarge_boxes(boxes: np.ndarray, margin: float, height: int, width: int) -> np.ndarray:
    """Grow boxes by ``margin`` pixels on each side, clipped to the image.

    Parameters
    ----------
    boxes : array-like of shape (K, 4)
        ``x1, y1, x2, y2`` in pixels.
    margin : float
        Pixels added on each side (a negative value shrinks the boxes).
    height, width : int
        Image size in pixels.

    Returns
    -------
    ndarray of shape (K, 4), float32
        The grown boxes, clipped to ``[0, width] x [0, height]``.
    """
    out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) + np.array([-margin, -margin, margin, margin], np.float32)
    return clip_boxes(out, height, width)


def zero_boxes(mask: np.ndarray, boxes: np.ndarray, margin: float) -> np.ndarray:
    """Copy of ``mask`` with every box (grown by ``margin``) set to zero.

    Parameters
    ----------
    mask : ndarray of shape (H, W) or (H, W, C)
        The image or mask to blank.
    boxes : array-like of shape (K, 4)
        ``x1, y1, x2, y2`` in pixels; after growing and clipping, the corners are
        truncated to integers and ``x2, y2`` are end exclusive.
    margin : float
        Pixels added on each side of every box.

    Returns
    -------
    ndarray
        Same shape and dtype as ``mask``; ``mask`` is not changed.
    """
    out = mask.copy()
    height, width = mask.shape[:2]
    for x1, y1, x2, y2 in enlarge_boxes(boxes, margin, height, width).astype(np.int64):
        out[y1:y2, x1:x2] = 0
    return out


def boxes_from_mask(mask: np.ndarray, min_area: float, max_aspect: float, margin: float) -> np.ndarray:
    """Boxes of the external contours of a binary mask, filtered as VEC does.

    Parameters
    ----------
    mask : ndarray of shape (H, W), uint8
        Non-zero pixels are foreground.
    min_area : float
        A contour's bounding rectangle ``(x, y, w, h)`` is kept only when
        ``(w + 1) * (h + 1) > min_area``.
    max_aspect : float
        ... and when ``w / h < max_aspect`` and ``h / w < max_aspect``.
    margin : float
        Kept rectangles are grown by this many pixels on each side and clipped
        to ``[0, W] x [0, H]``.

    Returns
    -------
    ndarray of shape (K, 4), float32
        ``x1, y1, x2, y2`` with ``x2 = x + w (+ margin)`` (end exclusive).
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return empty_boxes()
    rects = np.array([cv2.boundingRect(c) for c in contours], dtype=np.float64)
    x, y, w, h = rects.T
    keep = ((w + 1) * (h + 1) > min_area) & (w < max_aspect * h) & (h < max_aspect * w)
    boxes = np.stack([x, y, x + w, y + h], axis=1)[keep]
    return enlarge_boxes(boxes, margin, mask.shape[0], mask.shape[1])


def _areas(boxes: np.ndarray) -> np.ndarray:
    """Box areas with the +1 pixel convention of VEC."""
    return (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)


def prune_covered(boxes: np.ndarray, cover_thr: float, keep_rows: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, ...]:
    """Drop boxes mostly covered by a larger box (VEC's "cover" pruning, not NMS).

    Boxes are visited by increasing area; a box is dropped when its
    intersection with any larger box, divided by its own area, exceeds
    ``cover_thr``.  Areas and intersections use the +1 pixel convention.

    Parameters
    ----------
    boxes : ndarray of shape (K, 4)
    cover_thr : float
    keep_rows : sequence of arrays of length K
        Per-box arrays (scores, labels ...) filtered alongside.

    Returns
    -------
    tuple of ndarray
        The kept boxes (in increasing-area order), then each of ``keep_rows``
        filtered the same way.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    order = np.argsort(_areas(boxes), kind="stable")
    sorted_boxes = boxes[order].astype(np.float64)
    areas = _areas(sorted_boxes)
    keep = np.ones(len(boxes), dtype=bool)
    for i in range(len(boxes) - 1):
        larger = sorted_boxes[i + 1 :]
        iw = np.minimum(larger[:, 2], sorted_boxes[i, 2]) - np.maximum(larger[:, 0], sorted_boxes[i, 0]) + 1
        ih = np.minimum(larger[:, 3], sorted_boxes[i, 3]) - np.maximum(larger[:, 1], sorted_boxes[i, 1]) + 1
        covered = np.clip(iw, 0, None) * np.clip(ih, 0, None) / areas[i]
        keep[i] = not np.any(covered > cover_thr)
    kept = order[keep]
    return (boxes[kept],) + tuple(np.asarray(row)[kept] for row in keep_rows)

"""Batched scoring shared by the detectors, with a bounded set of batch shapes.

oneDNN (PyTorch's CPU convolutions) builds and caches kernels and reordered weights for
every input shape it meets, and cuDNN's autotuner does the same on a GPU. When the last
batch of every call has a new size, as with the objects of a stream's windows, that cache
keeps growing: scoring a 400-frame 640x360 clip through ``score_stream`` grew PKG-Net's
resident memory by 0.9 GB. :func:`score_in_batches` pads the last batch with zero rows to one
of a few sizes, so a scorer meets at most ``PADDING_STEPS + 1`` shapes, whatever comes in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from pyvad.training import mixed_precision

__all__ = ["PADDING_STEPS", "as_tensor", "padded_batch_size", "score_in_batches", "scoring_batch_size"]

#: Batch sizes a scorer meets below the full batch (see :func:`padded_batch_size`).
PADDING_STEPS = 8


def padded_batch_size(n_rows: int, batch_size: int, steps: int = PADDING_STEPS) -> int:
    """The batch size ``n_rows`` rows are padded to: the next multiple of ``batch_size / steps``.

    A scorer then meets at most ``steps + 1`` batch sizes, and a padded batch wastes
    fewer than ``batch_size / steps`` rows.

    Parameters
    ----------
    n_rows : int
        Rows in the batch, ``1 <= n_rows <= batch_size``.
    batch_size : int
        The full batch size.
    steps : int, default=8
        Number of padded sizes up to ``batch_size``.

    Returns
    -------
    int

    Examples
    --------
    >>> [padded_batch_size(n, 512) for n in (1, 64, 65, 260, 500)]
    [64, 64, 128, 320, 512]
    """
    step = -(-batch_size // steps)
    return min(batch_size, -(-n_rows // step) * step)


def scoring_batch_size(requested: int | None, device: str | torch.device, cpu: int, other: int) -> int:
    """Rows per scoring call: ``requested``, else the detector's default for the kind of device.

    CPUs and GPUs want different batches. On a 2-core CPU, a batch whose activations outgrow
    the cache scores fewer rows a second: PKG-Net scored Ped2's objects at 3.3k a second in
    batches of 512 and 4.3k in batches of 128, CAFE at 0.5k in batches of 256 and 1.0k in
    batches of 64 (``benchmarks/scoring_batch.py``). A GPU needs large batches to be kept busy.

    Parameters
    ----------
    requested : int or None
        The detector's ``inference_batch_size``; None asks for the default.
    device : str or torch.device
        Where the scoring runs.
    cpu, other : int
        The detector's defaults on a CPU and on any other device.

    Returns
    -------
    int
    """
    if requested is not None:
        return int(requested)
    return cpu if torch.device(device).type == "cpu" else other


def as_tensor(array: np.ndarray) -> torch.Tensor:
    """A CPU tensor of ``array``: its memory when contiguous and writable, else a copy.

    Event patches may be read-only (a memory map, or the strided frame stacks of
    :class:`~pyvad.foreground.WholeFrames`), and torch does not take read-only memory.

    Parameters
    ----------
    array : ndarray

    Returns
    -------
    Tensor
    """
    array = np.ascontiguousarray(array)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _padded(array: np.ndarray | torch.Tensor, size: int, pinned: bool = False) -> torch.Tensor:
    """``array`` with zero rows appended up to ``size`` rows, as a CPU tensor.

    ``pinned`` copies it into page-locked memory (one copy, straight from a strided view), so
    that it can go to a GPU asynchronously; else a contiguous writable array is not copied.
    """
    if pinned and isinstance(array, np.ndarray):
        dtype = torch.from_numpy(np.empty(0, array.dtype)).dtype
        tensor = torch.empty((size, *array.shape[1:]), dtype=dtype, pin_memory=True)
        rows = tensor.numpy()
        rows[: len(array)] = array
        rows[len(array) :] = 0
        return tensor
    tensor = as_tensor(array) if isinstance(array, np.ndarray) else array
    missing = size - len(tensor)
    return torch.cat([tensor, tensor.new_zeros((missing, *tensor.shape[1:]))]) if missing else tensor


@torch.inference_mode()
def score_in_batches(
    scorer: Callable[..., Sequence[torch.Tensor]],
    names: Sequence[str],
    inputs: Callable[[slice], Sequence[np.ndarray | torch.Tensor]],
    n_rows: int,
    batch_size: int,
    device: torch.device,
    precision: torch.dtype | None = None,
) -> dict[str, np.ndarray]:
    """Run ``scorer`` over rows ``0 … n_rows - 1`` in batches and join its outputs.

    Parameters
    ----------
    scorer : callable
        Takes the batch's input tensors (on ``device``) and returns one tensor per name,
        each with one entry per row along its first axis. Rows must not depend on each
        other (modules in eval mode), since the last batch is padded with zero rows.
    names : sequence of str
        Names of the scorer's outputs, in order.
    inputs : callable
        ``inputs(rows)`` gives the arrays or tensors of the rows in the slice ``rows``.
    n_rows : int
        Number of rows.
    batch_size : int
        Rows per batch; the last batch is padded to :func:`padded_batch_size`.
    device : torch.device
        Where the scorer runs.
    precision : torch.dtype, optional
        Autocast dtype (see :func:`pyvad.training.resolve_amp`); None runs in float32.

    Returns
    -------
    dict of str to ndarray
        Every output as ``float64``, rows in order (shape ``(0,)`` when ``n_rows`` is 0).
    """
    # On a GPU nothing waits for a batch: inputs go up from page-locked memory and outputs come
    # back without blocking, so the CPU prepares the next batch (or reads the next frames,
    # see ``inputs``) while the GPU runs this one; one synchronisation at the end.
    asynchronous = device.type == "cuda"
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for start in range(0, n_rows, batch_size):
        rows = slice(start, min(start + batch_size, n_rows))
        size = rows.stop - rows.start
        padded = padded_batch_size(size, batch_size)
        tensors = [_padded(array, padded, asynchronous).to(device, non_blocking=asynchronous) for array in inputs(rows)]
        with mixed_precision(precision, device):
            outputs = scorer(*tensors)
        for name, value in zip(names, outputs):
            parts[name].append(value[:size].float().to("cpu", non_blocking=asynchronous))
    if asynchronous:
        torch.cuda.synchronize(device)
    return {name: torch.cat(values).double().numpy() if values else np.zeros(0) for name, values in parts.items()}

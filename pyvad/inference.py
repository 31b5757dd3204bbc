"""Batched scoring shared by the detectors, with a bounded set of batch shapes.

oneDNN (PyTorch's CPU convolutions) builds and caches kernels and reordered weights for
every input shape it meets, and cuDNN's autotuner does the same on a GPU. When the last
batch of every call has a new size, as with the objects of a stream's windows, that cache
keeps growing: scoring a 400-frame 640x360 clip through ``score_stream`` grew PKG-Net's
resident memory by 0.9 GB. :func:`score_in_batches` pads the last batch with zero rows to a
power of two, so a scorer sees at most ``log2(batch_size) + 2`` shapes, whatever comes in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from pyvad.training import mixed_precision

__all__ = ["padded_batch_size", "score_in_batches"]


def padded_batch_size(n_rows: int, batch_size: int) -> int:
    """The batch size ``n_rows`` rows are padded to: the next power of two, at most ``batch_size``.

    Parameters
    ----------
    n_rows : int
        Rows in the batch, ``1 <= n_rows <= batch_size``.
    batch_size : int
        The full batch size.

    Returns
    -------
    int

    Examples
    --------
    >>> [padded_batch_size(n, 48) for n in (1, 3, 17, 40, 48)]
    [1, 4, 32, 48, 48]
    """
    return min(batch_size, 1 << (n_rows - 1).bit_length())


def _padded(array: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array)) if isinstance(array, np.ndarray) else array
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
        Rows per batch.
    device : torch.device
        Where the scorer runs.
    precision : torch.dtype, optional
        Autocast dtype (see :func:`pyvad.training.resolve_amp`); None runs in float32.

    Returns
    -------
    dict of str to ndarray
        Every output as ``float64``, rows in order (shape ``(0,)`` when ``n_rows`` is 0).
    """
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for start in range(0, n_rows, batch_size):
        rows = slice(start, min(start + batch_size, n_rows))
        size = rows.stop - rows.start
        padded = padded_batch_size(size, batch_size)
        tensors = [_padded(array, padded).to(device) for array in inputs(rows)]
        with mixed_precision(precision, device):
            outputs = scorer(*tensors)
        for name, value in zip(names, outputs):
            parts[name].append(value[:size].float().cpu())
    return {name: torch.cat(values).double().numpy() if values else np.zeros(0) for name, values in parts.items()}

"""Batched scoring: same results as one big batch, and few distinct batch shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pyvad.inference import padded_batch_size, score_in_batches


class _Recorder(nn.Module):
    """A small conv scorer (BatchNorm in eval mode) that remembers the batch sizes it saw."""

    names = ("mean", "map")

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()).eval()
        self.sizes: list[int] = []

    def forward(self, images: torch.Tensor, offset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.sizes.append(len(images))
        features = self.body(images.float() / 255.0) + offset[:, None, None, None]
        return features.mean(dim=(1, 2, 3)), features[:, 0]


def _inputs(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    return rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8), rng.normal(size=n).astype(np.float32)


@pytest.mark.parametrize("n_rows, batch_size, expected", [(1, 64, 8), (8, 64, 8), (9, 64, 16), (33, 64, 40),
                                                           (64, 64, 64), (40, 50, 42), (49, 50, 49), (50, 50, 50), (2, 4, 2)])
def test_padded_batch_size_is_the_next_of_a_few_steps_up_to_the_batch(n_rows, batch_size, expected):
    assert padded_batch_size(n_rows, batch_size) == expected


@pytest.mark.parametrize("n_rows", [1, 5, 16, 37])
def test_results_equal_one_unpadded_pass(n_rows):
    images, offsets = _inputs(n_rows)
    scorer = _Recorder()
    out = score_in_batches(scorer, scorer.names, lambda rows: [images[rows], offsets[rows]], n_rows, 16,
                           torch.device("cpu"))
    with torch.no_grad():
        mean, first = scorer(torch.from_numpy(images), torch.from_numpy(offsets))
    assert out["mean"].dtype == np.float64 and out["mean"].shape == (n_rows,)
    assert out["map"].shape == (n_rows, 8, 8)
    np.testing.assert_allclose(out["mean"], mean.double().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["map"], first.double().numpy(), rtol=1e-5, atol=1e-6)


def test_the_scorer_sees_few_batch_shapes_whatever_the_row_counts():
    scorer = _Recorder()
    for n_rows in range(1, 101):
        images, offsets = _inputs(n_rows)
        score_in_batches(scorer, scorer.names, lambda rows: [images[rows], offsets[rows]], n_rows, 32,
                         torch.device("cpu"))
    assert sorted(set(scorer.sizes)) == [4, 8, 12, 16, 20, 24, 28, 32]


def test_no_rows_give_empty_outputs_without_calling_the_scorer():
    scorer = _Recorder()
    out = score_in_batches(scorer, scorer.names, lambda rows: [], 0, 32, torch.device("cpu"))
    assert scorer.sizes == [] and all(v.shape == (0,) for v in out.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("strided", [False, True])
def test_asynchronous_gpu_batches_equal_the_cpu_result(strided):
    """On CUDA, batches go up from page-locked memory and come back without a wait per batch."""
    images, offsets = _inputs(300)
    if strided:  # a read-only strided view, as WholeFrames' frame stacks
        images = np.lib.stride_tricks.as_strided(images, writeable=False)[:, ::-1]
    scorer = _Recorder()

    def inputs(rows):
        return [images[rows], offsets[rows]]

    on_cpu = score_in_batches(scorer, scorer.names, inputs, 300, 64, torch.device("cpu"))
    on_gpu = score_in_batches(scorer.cuda(), scorer.names, inputs, 300, 64, torch.device("cuda"))
    for name in scorer.names:
        np.testing.assert_allclose(on_gpu[name], on_cpu[name], rtol=2e-3, atol=2e-3)  # TF32 convolutions

"""Specification of the shared trainer, its checkpoints, DDP and the teacher feature cache."""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import TensorDataset

from pyvad.exceptions import ModelFileError
from pyvad.training import (
    Callback,
    FeatureCache,
    Trainer,
    cache_teacher_features,
    native_bfloat16,
    resolve_amp,
    resolve_device,
    seed_everything,
    set_trainable,
    training_key,
)


def _regression_data(n: int = 64, seed: int = 0) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    y = x @ torch.tensor([[0.5], [-1.0], [0.25], [1.0]]) + 0.01 * torch.randn(n, 1, generator=gen)
    return TensorDataset(x, y)


def _tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))


def _mse(model: nn.Module, batch, epoch: int):
    x, y = batch
    loss = nn.functional.mse_loss(model(x), y)
    return loss, {"mse": loss.item()}


class _KillAfter(Callback):
    """Simulates the process being killed once ``epoch`` has finished."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill")


def _trainer(**overrides) -> Trainer:
    params = {"epochs": 3, "batch_size": 8, "optimizer": "sgd", "lr": 0.05, "optimizer_kwargs": {"momentum": 0.9},
              "scheduler": "step", "scheduler_kwargs": {"step_size": 1, "gamma": 0.5}, "device": "cpu",
              "random_state": 0, "verbose": 0}
    params.update(overrides)
    return Trainer(**params)


# ----------------------------------------------------------------------------- resume


def test_resume_after_a_kill_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path: Path) -> None:
    data = _regression_data()
    reference = _trainer().fit(_tiny_model(), _mse, data)

    with pytest.raises(KeyboardInterrupt):
        _trainer(checkpoint_dir=tmp_path, callbacks=[_KillAfter(0)]).fit(_tiny_model(), _mse, data)
    torch.manual_seed(123)  # the restarted process is in some other RNG state
    resumed_trainer = _trainer(checkpoint_dir=tmp_path, resume=True)
    resumed = resumed_trainer.fit(_tiny_model(seed=7), _mse, data)

    assert resumed_trainer.start_epoch_ == 1
    assert len(resumed_trainer.history_) == 3
    for (name, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name


def test_checkpoints_load_without_pickle_and_leave_no_temporary_files(tmp_path: Path) -> None:
    _trainer(epochs=2, checkpoint_dir=tmp_path).fit(_tiny_model(), _mse, _regression_data())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit-last.pt"]
    ckpt = torch.load(tmp_path / "fit-last.pt", weights_only=True)
    assert ckpt["run"]["epoch"] == 2 and ckpt["run"]["finished"]
    assert {"model", "optimizer", "scheduler", "rng"} <= set(ckpt)


def test_a_data_key_files_checkpoints_per_data_so_other_data_never_resumes_them(tmp_path: Path) -> None:
    first, second = _regression_data(), _regression_data(seed=1)
    fitted_first = _trainer(checkpoint_dir=tmp_path, resume=True).fit(_tiny_model(), _mse, first, data_key="aaaa")
    trainer = _trainer(checkpoint_dir=tmp_path, resume=True)
    fitted_second = trainer.fit(_tiny_model(), _mse, second, data_key="bbbb")
    assert trainer.start_epoch_ == 0  # trained from scratch, not "resumed" from the other data's finished fit
    assert not all(torch.equal(a, b) for a, b in zip(fitted_first.state_dict().values(),
                                                     fitted_second.state_dict().values()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit-aaaa-last.pt", "fit-bbbb-last.pt"]
    again = _trainer(checkpoint_dir=tmp_path, resume=True, callbacks=[_KillAfter(0)])
    resumed = again.fit(_tiny_model(5), _mse, first, data_key="aaaa")
    assert again.start_epoch_ == 3  # the same data's finished checkpoint: nothing trained again
    assert all(torch.equal(a, b) for a, b in zip(fitted_first.state_dict().values(), resumed.state_dict().values()))
    with pytest.raises(ValueError, match="data_key must be letters"):
        _trainer(checkpoint_dir=tmp_path).fit(_tiny_model(), _mse, first, data_key="../elsewhere")


def test_resuming_a_finished_stage_returns_its_weights_without_training(tmp_path: Path) -> None:
    data = _regression_data()
    first = _trainer(checkpoint_dir=tmp_path).fit(_tiny_model(), _mse, data)
    again = _trainer(checkpoint_dir=tmp_path, resume=True, callbacks=[_KillAfter(0)]).fit(_tiny_model(5), _mse, data)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


class _OnAnotherDevice:
    """Stands in for a tensor that ``torch.load(map_location="cuda")`` put on a GPU: no ``numpy()``."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self._tensor = tensor

    def numpy(self) -> np.ndarray:
        raise TypeError("can't convert cuda:0 device type tensor to numpy")

    def cpu(self) -> torch.Tensor:
        return self._tensor


def test_resume_restores_random_state_loaded_onto_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (H100, session 13): resuming on CUDA failed on the NumPy RNG key that map_location moved.
    data = _regression_data()
    with pytest.raises(KeyboardInterrupt):
        _trainer(checkpoint_dir=tmp_path, callbacks=[_KillAfter(0)]).fit(_tiny_model(), _mse, data)
    load = torch.load

    def load_onto_gpu(*args, **kwargs):
        ckpt = load(*args, **kwargs)
        ckpt["rng"]["numpy"]["key"] = _OnAnotherDevice(ckpt["rng"]["numpy"]["key"])
        ckpt["rng"]["torch"] = _OnAnotherDevice(ckpt["rng"]["torch"])
        return ckpt

    monkeypatch.setattr(torch, "load", load_onto_gpu)
    resumed = _trainer(checkpoint_dir=tmp_path, resume=True)
    resumed.fit(_tiny_model(), _mse, data)
    assert resumed.start_epoch_ == 1


def test_a_corrupt_checkpoint_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "fit-last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="fit-last.pt"):
        _trainer(checkpoint_dir=tmp_path, resume=True).fit(_tiny_model(), _mse, _regression_data())


# ----------------------------------------------------------------------------- loop behaviour


def test_training_reduces_the_loss_and_logs_every_epoch() -> None:
    trainer = _trainer(epochs=4, optimizer="adam", lr=3e-2, optimizer_kwargs=None, scheduler="cosine",
                       scheduler_kwargs=None)
    trainer.fit(_tiny_model(), _mse, _regression_data(), _regression_data(seed=1))
    losses = [h["loss"] for h in trainer.history_]
    assert losses[-1] < 0.5 * losses[0]
    assert {"epoch", "loss", "mse", "val_loss", "lr", "samples_per_s"} <= set(trainer.history_[0])
    assert trainer.history_[-1]["lr"] < trainer.history_[0]["lr"]


def test_a_loss_term_can_be_switched_on_at_an_epoch() -> None:
    def staged(model, batch, epoch):
        loss, _ = _mse(model, batch, epoch)
        extra = model[0].weight.pow(2).mean() if epoch >= 2 else torch.zeros(())
        return loss + extra, {"extra": extra.detach()}

    trainer = _trainer(epochs=3)
    trainer.fit(_tiny_model(), staged, _regression_data())
    assert [h["extra"] > 0 for h in trainer.history_] == [False, False, True]


def test_set_trainable_freezes_everything_but_the_named_modules() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    frozen = {k: v.clone() for k, v in model[:2].state_dict().items()}
    n = set_trainable(model, train=["2"])
    assert n == 9
    _trainer(epochs=2).fit(model, _mse, _regression_data())
    for key, value in model[:2].state_dict().items():
        assert torch.equal(value, frozen[key]), f"frozen {key} changed (BatchNorm statistics included)"
    with pytest.raises(ValueError, match="not sub-modules"):
        set_trainable(model, freeze=["decoder"])


def test_two_stages_are_two_fits_with_their_own_checkpoints(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    trainer = _trainer(epochs=2, checkpoint_dir=tmp_path)
    trainer.fit(model, _mse, _regression_data(), name="teacher")
    encoder = model[0].weight.clone()
    set_trainable(model, freeze=["0"])
    trainer.fit(model, _mse, _regression_data(), name="student")
    assert torch.equal(model[0].weight, encoder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student-last.pt", "teacher-last.pt"]


def test_early_stopping_stops_and_restores_the_best_weights() -> None:
    class Record(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            self.best = {k: v.clone() for k, v in model.state_dict().items()} if logs["val_loss"] == min(
                h["val_loss"] for h in trainer.history_) else self.best

    def diverging(model, batch, epoch):  # validation gets worse from the second epoch on
        loss, logs = _mse(model, batch, epoch)
        return (loss, logs) if model.training else (loss + 100.0 * epoch, logs)

    model, record = _tiny_model(), Record()
    trainer = _trainer(epochs=10, early_stopping=2, callbacks=[record])
    trainer.fit(model, diverging, _regression_data(), _regression_data(seed=1))
    assert trainer.stopped_early_ and len(trainer.history_) == 3
    assert all(torch.equal(v, record.best[k]) for k, v in model.state_dict().items())


def test_a_callback_stops_training_at_the_epoch_it_asks_and_the_checkpoint_says_so(tmp_path: Path) -> None:
    class StopAfter(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 1:
                trainer.stop_training = True

    trainer = _trainer(epochs=6, checkpoint_dir=tmp_path, checkpoint_every=5, callbacks=[StopAfter()])
    model = trainer.fit(_tiny_model(), _mse, _regression_data())
    assert len(trainer.history_) == 2 and trainer.stopped_early_
    resumed = _trainer(epochs=6, checkpoint_dir=tmp_path, resume=True)
    again = resumed.fit(_tiny_model(seed=3), _mse, _regression_data())
    assert len(resumed.history_) == 2 and resumed.stopped_early_  # finished: nothing more is trained
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_nan_loss_stops_training_with_a_clear_error() -> None:
    def nan_loss(model, batch, epoch):
        return model(batch[0]).sum() * float("nan")

    with pytest.raises(FloatingPointError, match="epoch 0"):
        _trainer().fit(_tiny_model(), nan_loss, _regression_data())


@pytest.mark.parametrize(
    ("params", "message"),
    [({"epochs": 0}, "epochs"), ({"optimizer": "lion"}, "optimizer"), ({"scheduler": "poly"}, "scheduler"),
     ({"amp": "fp8"}, "amp"), ({"resume": True}, "checkpoint_dir"), ({"lr": -1.0}, "lr")],
)
def test_invalid_parameters_are_named_in_the_error(params, message) -> None:
    with pytest.raises(ValueError, match=message):
        _trainer(**params).fit(_tiny_model(), _mse, _regression_data())


def test_fp16_amp_is_ignored_with_a_warning_off_cuda() -> None:
    with pytest.warns(UserWarning, match="not supported on cpu"):
        _trainer(epochs=1, amp="fp16").fit(_tiny_model(), _mse, _regression_data())


def _autocast_dtypes(amp: str, epochs: int = 1) -> tuple[set[torch.dtype], nn.Module]:
    """Train with ``amp`` (warnings are errors); the dtypes the model's outputs had, and the model."""
    dtypes = set()

    def loss(model: nn.Module, batch, epoch: int):
        x, y = batch
        prediction = model(x)
        dtypes.add(prediction.dtype)
        return nn.functional.mse_loss(prediction.float(), y), {}

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = _trainer(epochs=epochs, amp=amp).fit(_tiny_model(), loss, _regression_data())
    return dtypes, model


def test_bf16_amp_trains_under_cpu_autocast() -> None:
    dtypes, model = _autocast_dtypes("bf16", epochs=2)
    assert dtypes == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize(("amp", "device", "expected"), [
    (None, "cuda", None), ("bf16", "cuda", torch.bfloat16), ("fp16", "cuda", torch.float16),
    ("bf16", "cpu", torch.bfloat16), ("fp16", "cpu", None), ("bf16", "mps", None), ("fp16", "mps", None)])
def test_resolve_amp_states_where_each_precision_runs(amp, device, expected) -> None:
    assert resolve_amp(amp, torch.device(device)) is expected


@pytest.mark.parametrize(("capabilities", "expected"), [
    ({"avx512_bf16": True, "avx2": True}, torch.bfloat16), ({"amx_bf16": True}, torch.bfloat16),
    ({"bf16": True}, torch.bfloat16), ({"avx512_bf16": False, "avx2": True}, None), ({}, None)])
def test_auto_precision_is_bf16_only_where_the_cpu_computes_it(capabilities, expected, monkeypatch) -> None:
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert native_bfloat16(torch.device("cpu")) is (expected is not None)
    assert resolve_amp("auto", torch.device("cpu")) is expected
    assert resolve_amp("fp32", torch.device("cpu")) is None


@pytest.mark.parametrize(("capability", "expected"), [((9, 0), True), ((8, 0), True), ((7, 5), False)])
def test_native_bfloat16_on_cuda_needs_compute_capability_8(capability, expected, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert native_bfloat16(torch.device("cuda")) is expected


def test_native_bfloat16_is_false_where_torch_cannot_tell(monkeypatch) -> None:
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    assert native_bfloat16(torch.device("cpu")) is False
    assert native_bfloat16(torch.device("mps")) is False


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_trains_in_bf16_only_on_native_hardware_and_never_warns(native, monkeypatch) -> None:
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": native})
    dtypes, _ = _autocast_dtypes("auto")
    assert dtypes == {torch.bfloat16 if native else torch.float32}


def test_resolve_amp_rejects_unknown_precisions() -> None:
    with pytest.raises(ValueError, match="amp must be"):
        resolve_amp("fp8", torch.device("cpu"))


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_cuda_names_the_way_to_load_a_gpu_model() -> None:
    with pytest.raises(ValueError, match=r"CUDA is not available.*pyvad.load\(path, device='cpu'\)"):
        resolve_device("cuda")


def test_seed_everything_makes_random_draws_repeatable() -> None:
    seed_everything(3)
    first = (torch.rand(2), np.random.rand(2))
    seed_everything(3)
    assert torch.equal(first[0], torch.rand(2)) and np.array_equal(first[1], np.random.rand(2))


# ----------------------------------------------------------------------------- progress output


@pytest.mark.parametrize(("verbose", "shown"), [(0, False), (1, False), (2, True)])
def test_progress_bars_appear_only_when_enabled(capsys, verbose: int, shown: bool) -> None:
    # under pytest stderr is not a terminal: verbose=1 must stay quiet there
    _trainer(epochs=1, verbose=verbose).fit(_tiny_model(), _mse, _regression_data())
    captured = capsys.readouterr()
    assert ("loss" in captured.err) is shown
    assert captured.out == ""


# ----------------------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)
    trainer = _trainer(epochs=4, optimizer="adam", lr=3e-2, optimizer_kwargs=None, scheduler=None,
                       checkpoint_dir=out_dir)
    model = trainer.fit(_tiny_model(), _mse, _regression_data())
    torch.save({"losses": [h["loss"] for h in trainer.history_], "weights": model.state_dict()},
               Path(out_dir) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_with_two_gloo_processes_trains_like_a_single_process(tmp_path: Path) -> None:
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    single = _trainer(epochs=4, optimizer="adam", lr=3e-2, optimizer_kwargs=None, scheduler=None, batch_size=16)
    single.fit(_tiny_model(), _mse, _regression_data())
    single_losses = [h["loss"] for h in single.history_]

    assert ranks[0]["losses"] == ranks[1]["losses"], "logged losses are averaged over processes"
    assert all(torch.equal(ranks[0]["weights"][k], ranks[1]["weights"][k]) for k in ranks[0]["weights"])
    ddp_losses = ranks[0]["losses"]
    assert ddp_losses[-1] < 0.5 * ddp_losses[0]
    assert ddp_losses[-1] == pytest.approx(single_losses[-1], rel=0.5)
    assert [p.name for p in tmp_path.glob("*-last.pt")] == ["fit-last.pt"], "only rank 0 checkpoints"


# ----------------------------------------------------------------------------- feature cache


class _TwoTaps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        a = self.conv(x)
        return {"a": a, "b": a.mean(dim=(2, 3))}


@pytest.mark.parametrize("on_disk", [False, True])
def test_cached_features_equal_recomputed_ones_within_fp16_tolerance(tmp_path: Path, on_disk: bool) -> None:
    images = torch.rand(10, 3, 8, 8)
    labels = torch.arange(10)
    teacher = _TwoTaps()
    cache = cache_teacher_features(teacher, TensorDataset(images, labels), cache_dir=tmp_path if on_disk else None,
                                   batch_size=4, device="cpu")
    assert isinstance(cache, FeatureCache) and len(cache) == 10 and cache.taps == ["a", "b"]
    assert teacher.calls == 3, "the teacher runs once over the data"
    assert (tmp_path / "a.npy").exists() is on_disk

    index, image, label, features = cache[7]
    assert index == 7 and torch.equal(image, images[7]) and label == 7
    expected = teacher(images[7:8])
    for tap in ("a", "b"):
        assert features[tap].dtype == torch.float16
        torch.testing.assert_close(features[tap].float(), expected[tap][0].detach(), rtol=1e-3, atol=1e-3)


def test_the_cache_batches_through_a_dataloader_with_the_requested_taps() -> None:
    data = TensorDataset(torch.rand(6, 3, 8, 8))
    cache = cache_teacher_features(_TwoTaps(), data, taps=["b"], dtype=torch.float32, device="cpu")
    index, images, features = next(iter(torch.utils.data.DataLoader(cache, batch_size=6)))
    assert index.tolist() == list(range(6)) and images.shape == (6, 3, 8, 8)
    assert list(features) == ["b"] and features["b"].shape == (6, 4)
    with pytest.raises(ValueError, match="'c'"):
        cache_teacher_features(_TwoTaps(), data, taps=["c"], device="cpu")


def test_frozen_parent_parameters_do_not_put_trained_children_in_eval_mode():
    from pyvad.training import _freeze_frozen_norms

    model = torch.nn.Module()
    model.token = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
    model.head = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    model.frozen_norm = torch.nn.BatchNorm1d(2).requires_grad_(False)
    model.train()
    _freeze_frozen_norms(model)
    assert not model.training and not model.frozen_norm.training
    assert model.head.training and model.head[1].training


@pytest.mark.parametrize(("before", "value"), [(False, True), (True, False), (True, None), (False, None)])
def test_cudnn_benchmark_is_set_only_inside_and_restored(before: bool, value: bool | None) -> None:
    from pyvad.training import _cudnn_benchmark

    saved = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = before
        with _cudnn_benchmark(value):
            assert torch.backends.cudnn.benchmark is (before if value is None else value)
        assert torch.backends.cudnn.benchmark is before
        with pytest.raises(RuntimeError), _cudnn_benchmark(value):
            raise RuntimeError("a failing fit")
        assert torch.backends.cudnn.benchmark is before
    finally:
        torch.backends.cudnn.benchmark = saved


def test_resume_says_which_checkpoint_continues_or_why_a_fit_starts_over(tmp_path: Path, capsys) -> None:
    data = _regression_data()
    _trainer(checkpoint_dir=tmp_path, resume=True, verbose=2).fit(_tiny_model(), _mse, data, data_key="aaaa")
    assert f"no checkpoint of this fit (fit-aaaa-last.pt) in {tmp_path}; 'fit' starts at epoch 0\n" in capsys.readouterr().err
    _trainer(checkpoint_dir=tmp_path, resume=True, verbose=2).fit(_tiny_model(), _mse, data, data_key="bbbb")
    assert "(other fits' checkpoints there: fit-aaaa-last.pt)" in capsys.readouterr().err
    _trainer(checkpoint_dir=tmp_path, resume=True, verbose=2).fit(_tiny_model(), _mse, data, data_key="aaaa")
    assert f"'fit' resumes from {tmp_path / 'fit-aaaa-last.pt'} at epoch 3 of 3" in capsys.readouterr().err
    _trainer(checkpoint_dir=tmp_path, resume=True, verbose=0).fit(_tiny_model(), _mse, data, data_key="aaaa")
    assert capsys.readouterr().err == ""


def test_the_training_key_holds_the_trainer_settings_that_change_the_weights() -> None:
    base = training_key("data", {"epochs": 5}, 0)
    assert training_key("data", {"epochs": 5}, 0, trainer_params=None) == base
    neutral = {"checkpoint_dir": "/tmp/x", "resume": True, "verbose": 2, "num_workers": 4, "checkpoint_every": 2,
               "callbacks": [Callback()], "pin_memory": True, "compile": True, "cudnn_benchmark": False}
    assert training_key("data", {"epochs": 5}, 0, trainer_params=neutral) == base
    changed = [{"weight_decay": 0.1}, {"grad_clip": 1.0}, {"optimizer_kwargs": {"momentum": 0.9}},
               {"scheduler": "cosine"}, {"scheduler_kwargs": {"gamma": 0.5}}, {"early_stopping": 3},
               {"drop_last": True}, {"collate_fn": _mse}]
    keys = {training_key("data", {"epochs": 5}, 0, trainer_params={**neutral, **params}) for params in changed}
    assert base not in keys and len(keys) == len(changed)
    # the same settings give the same key in every process: mappings by content, functions by name
    assert (training_key("data", trainer_params={"optimizer_kwargs": {"a": 1, "b": 2}, "collate_fn": _mse})
            == training_key("data", trainer_params={"optimizer_kwargs": {"b": 2, "a": 1}, "collate_fn": _mse}))

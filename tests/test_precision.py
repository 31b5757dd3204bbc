"""Settings every trained detector shares: ``amp=`` (training and scoring precision) and
``inference_batch_size=`` (scoring batch, with defaults per kind of device)."""

import numpy as np
import pytest
import torch

import pyvad.methods.cafe as cafe_module
import pyvad.methods.maskedae as maskedae_module
import pyvad.methods.pkgnet as pkgnet_module
from pyvad import CAFEDetector, MaskedAEDetector, PKGNetDetector, training
from pyvad.inference import scoring_batch_size
from pyvad.synthetic import make_train_test

DETECTORS = {
    "cafe": (cafe_module, lambda **p: CAFEDetector(
        "fast", teacher="mobilenet_v2", teacher_weights="random", teacher_input_size=0, student_widths=(8, 8, 16, 16),
        batch_size=64, epochs=1, ca_start_epoch=1, device="cpu", random_state=0, **p)),
    "pkgnet": (pkgnet_module, lambda **p: PKGNetDetector(
        "ped2", teacher="resnet18", teacher_weights="random", width=8, epochs=1, batch_size=32, device="cpu",
        random_state=0, **p)),
    "maskedae": (maskedae_module, lambda **p: MaskedAEDetector(
        "fast", image_size=(16, 24), offsets=(0,), batch_size=16, epochs=1, device="cpu", random_state=0,
        architecture=dict(encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2), **p)),
}


@pytest.fixture(scope="module")
def videos():
    train, test = make_train_test(n_train=2, n_test=1, n_frames=24, random_state=0)
    return train.videos, test.videos


def _record_precision(monkeypatch, module):
    """Record the ``amp`` each Trainer is built with and the precision each batched scoring runs in."""
    seen = {"trainer": [], "scoring": []}
    trainer_class, scoring = module.Trainer, module.score_in_batches

    def trainer(*args, **kwargs):
        seen["trainer"].append(kwargs.get("amp"))
        return trainer_class(*args, **kwargs)

    def score(*args, **kwargs):
        seen["scoring"].append(args[6] if len(args) > 6 else kwargs.get("precision"))
        return scoring(*args, **kwargs)

    monkeypatch.setattr(module, "Trainer", trainer)
    monkeypatch.setattr(module, "score_in_batches", score)
    return seen


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_amp_reaches_training_and_scoring(name, videos, monkeypatch):
    module, build = DETECTORS[name]
    seen = _record_precision(monkeypatch, module)
    detector = build(amp="bf16").fit(videos[0])
    scores = detector.score_frames(videos[1])
    assert seen["trainer"] and set(seen["trainer"]) == {"bf16"}
    assert seen["scoring"] and set(seen["scoring"]) == {torch.bfloat16}
    assert all(np.isfinite(s).all() for s in scores)


@pytest.mark.parametrize(("name", "preset", "expected"), [
    ("cafe", "ped2", "fp32"), ("cafe", "fast", "auto"), ("pkgnet", "ped2", "fp32"), ("pkgnet", "fast", "fp32"),
    ("maskedae", "ped2", "fp32"), ("maskedae", "fast", "fp32")])
@pytest.mark.parametrize("native", [True, False])
def test_precision_is_the_presets(name, preset, expected, native, videos, monkeypatch):
    module, build = DETECTORS[name]
    monkeypatch.setattr(training, "native_bfloat16", lambda device: native)
    seen = _record_precision(monkeypatch, module)
    build().set_params(preset=preset).fit(videos[0]).score_frames(videos[1])
    on = expected == "auto" and native
    assert set(seen["trainer"]) == {expected} and set(seen["scoring"]) == {torch.bfloat16 if on else None}


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_scoring_precision_follows_set_params_after_fit(name, videos, monkeypatch):
    module, build = DETECTORS[name]
    detector = build(amp="bf16").fit(videos[0])
    seen = _record_precision(monkeypatch, module)
    detector.set_params(amp="fp32").score_frames(videos[1])
    assert set(seen["scoring"]) == {None}


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_unknown_amp_is_refused(name, videos):
    _, build = DETECTORS[name]
    with pytest.raises(ValueError, match="amp"):
        build(amp="fp8").fit(videos[0])


def test_cafe_refuses_amp_inside_trainer_params(videos):
    _, build = DETECTORS["cafe"]
    with pytest.raises(ValueError, match="amp="):
        build(trainer_params={"amp": "bf16"}).fit(videos[0])


def _record_batches(monkeypatch, module) -> list[int]:
    seen: list[int] = []
    scoring = module.score_in_batches

    def score(*args, **kwargs):
        seen.append(args[4])
        return scoring(*args, **kwargs)

    monkeypatch.setattr(module, "score_in_batches", score)
    return seen


@pytest.mark.parametrize("name, cpu_default", [("cafe", 64), ("pkgnet", 128), ("maskedae", 16)])
def test_scoring_batch_is_the_parameter_or_the_cpu_default(name, cpu_default, videos, monkeypatch):
    module, build = DETECTORS[name]
    seen = _record_batches(monkeypatch, module)
    detector = build().fit(videos[0])
    seen.clear()
    detector.score_frames(videos[1])
    assert seen and set(seen) == {cpu_default}
    seen.clear()
    scores = detector.set_params(inference_batch_size=7).score_frames(videos[1])
    assert seen and set(seen) == {7}
    assert all(np.isfinite(s).all() for s in scores)


def test_scoring_batch_defaults_depend_on_the_kind_of_device():
    assert scoring_batch_size(None, "cpu", cpu=64, other=256) == 64
    assert scoring_batch_size(None, "cuda:1", cpu=64, other=256) == 256
    assert scoring_batch_size(5, "cuda", cpu=64, other=256) == 5

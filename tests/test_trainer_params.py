"""``trainer_params``: extra Trainer arguments of a detector, checked against what it sets itself."""

import re

import pytest
import torch

from pyvad import CAFEDetector, MaskedAEDetector, PKGNetDetector
from pyvad.synthetic import make_train_test
from pyvad.training import trainer_arguments

MAE_TINY = dict(image_size=(16, 24), offsets=(0,), batch_size=16, epochs=1, device="cpu", random_state=0,
                architecture=dict(encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2))


@pytest.fixture(scope="module")
def videos():
    train, _ = make_train_test(n_train=2, n_test=1, n_frames=16, random_state=0)
    return train.videos


def test_trainer_arguments_merge_and_refuse():
    assert trainer_arguments("D", {"epochs": 3}, {"num_workers": 2}) == {"epochs": 3, "num_workers": 2}
    assert trainer_arguments("D", {"epochs": 3}, None) == {"epochs": 3}
    with pytest.raises(ValueError, match=r"D: trainer_params may not set \['epochs'\].*epochs="):
        trainer_arguments("D", {"epochs": 3}, {"epochs": 5})
    with pytest.raises(ValueError, match="does not take.*'epochz'"):
        trainer_arguments("D", {"epochs": 3}, {"epochz": 5})


def test_maskedae_checkpoints_each_stage(videos, tmp_path):
    MaskedAEDetector("fast", **MAE_TINY, trainer_params={"checkpoint_dir": tmp_path}).fit(videos)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [re.fullmatch(r"(student|teacher)-[0-9a-f]{16}-last\.pt", name)[1] for name in names] == ["student", "teacher"]
    assert names[0][len("student"):] == names[1][len("teacher"):]  # both stages filed under the same data


def test_a_refit_with_other_settings_trains_instead_of_resuming_the_finished_checkpoint(videos, tmp_path):
    resume = {"checkpoint_dir": tmp_path, "resume": True}
    first = MaskedAEDetector("fast", **MAE_TINY, trainer_params=resume).fit(videos)
    longer = MaskedAEDetector("fast", **{**MAE_TINY, "epochs": 2}, trainer_params=resume).fit(videos)
    assert (len(first.history_["teacher"]), len(longer.history_["teacher"])) == (1, 2)
    assert len(list(tmp_path.glob("teacher-*-last.pt"))) == 2
    again = MaskedAEDetector("fast", **MAE_TINY, trainer_params=resume).fit(videos)  # the same fit: resumed
    for name, value in first.net_.state_dict().items():
        assert torch.equal(value, again.net_.state_dict()[name]), name


@pytest.mark.parametrize("build", [
    lambda p: MaskedAEDetector("fast", **MAE_TINY, trainer_params=p),
    lambda p: PKGNetDetector("ped2", teacher="resnet18", teacher_weights="random", device="cpu", trainer_params=p),
    lambda p: CAFEDetector("fast", teacher="mobilenet_v2", teacher_weights="random", device="cpu", trainer_params=p),
])
def test_clashing_trainer_params_are_refused(build, videos):
    with pytest.raises(ValueError, match="epochs="):
        build({"epochs": 2}).fit(videos)


def test_pkgnet_refuses_trainer_params_that_have_their_own_parameter(videos):
    detector = PKGNetDetector("ped2", teacher="resnet18", teacher_weights="random", device="cpu",
                              trainer_params={"num_workers": 2})
    with pytest.raises(ValueError, match="num_workers="):
        detector.fit(videos)

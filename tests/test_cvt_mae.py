"""Specification of the AED-MAE network (pyvad.nets.cvt_mae)."""

from __future__ import annotations

import pytest
import torch

from pyvad.nets.cvt_mae import CvTMaskedAutoEncoder, patchify, random_keep, unpatchify


def tiny_net(**kwargs) -> CvTMaskedAutoEncoder:
    torch.manual_seed(0)
    options = dict(in_channels=3, out_channels=4, image_size=(16, 24), patch_size=4,
                   encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2)
    options.update(kwargs)
    return CvTMaskedAutoEncoder(**options).eval()


def test_patchify_and_unpatchify_are_inverse_and_row_major():
    images = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).reshape(2, 3, 8, 12)
    tokens = patchify(images, 4)
    assert tokens.shape == (2, 6, 4 * 4 * 3)
    # token 1 is the second patch of the first row: columns 4..7 of rows 0..3
    assert torch.equal(tokens[0, 1].reshape(4, 4, 3).permute(2, 0, 1), images[0, :, 0:4, 4:8])
    assert torch.equal(unpatchify(tokens, 4, (2, 3)), images)


def test_random_keep_draws_sorted_distinct_visible_tokens():
    keep = random_keep(5, 40, 0.75, generator=torch.Generator().manual_seed(1))
    assert keep.shape == (5, 10)
    assert all(torch.equal(row, row.unique()) for row in keep)  # sorted, no repeats
    assert keep.min() >= 0 and keep.max() < 40
    assert random_keep(5, 40, 0.0) is None


def test_outputs_have_one_reconstruction_per_token_and_one_logit_per_frame():
    net = tiny_net()
    out = net(torch.randn(3, 3, 16, 24), keep=random_keep(3, net.n_tokens, 0.5))
    assert net.n_tokens == 4 * 6
    assert out["teacher"].shape == out["student"].shape == (3, 24, 4 * 4 * 4)
    assert out["logit"].shape == (3,)


def test_keeping_every_token_explicitly_equals_no_masking():
    net = tiny_net()
    images = torch.randn(2, 3, 16, 24)
    everything = torch.arange(net.n_tokens).expand(2, -1)
    with torch.no_grad():
        masked, plain = net(images, keep=everything), net(images)
    for key in plain:
        torch.testing.assert_close(masked[key], plain[key])


def test_the_encoder_only_sees_visible_tokens():
    net = tiny_net()
    images = torch.randn(1, 3, 16, 24)
    keep = torch.tensor([[0, 1, 2, 3, 4, 5]])  # first token row only
    changed = images.clone()
    changed[:, :, 8:, :] += 5.0  # token rows 2..3 are masked
    with torch.no_grad():
        torch.testing.assert_close(net(images, keep)["teacher"], net(changed, keep)["teacher"])


def test_masked_channels_blank_only_those_channels_of_the_hidden_tokens():
    net = tiny_net(in_channels=9, masked_channels=(3, 6))
    images = torch.randn(2, 9, 16, 24)
    keep = random_keep(2, net.n_tokens, 0.5, generator=torch.Generator().manual_seed(0))
    tokens, blanked = patchify(images, 4), patchify(net.blank_masked(images, keep), 4)
    # token values are flattened as (p, p, C): channel c of every pixel is value c of each run of 9
    channel = torch.arange(tokens.shape[-1]) % 9
    hidden_part = (channel >= 3) & (channel < 6)
    for frame in range(2):
        visible = torch.zeros(net.n_tokens, dtype=torch.bool)
        visible[keep[frame]] = True
        assert torch.equal(blanked[frame, visible], tokens[frame, visible])
        assert torch.equal(blanked[frame, ~visible][:, ~hidden_part], tokens[frame, ~visible][:, ~hidden_part])
        assert (blanked[frame, ~visible][:, hidden_part] == 0).all()


def test_with_masked_channels_a_hidden_token_shows_only_its_other_channels():
    net = tiny_net(in_channels=9, masked_channels=(3, 6))
    images = torch.randn(1, 9, 16, 24)
    keep = torch.tensor([[0, 1, 2, 3, 4, 5]])  # first token row only
    in_hidden_reference, in_hidden_neighbour = images.clone(), images.clone()
    in_hidden_reference[:, 3:6, 8:, :] += 5.0  # token rows 2..3 are masked
    in_hidden_neighbour[:, 0:3, 8:, :] += 5.0
    with torch.no_grad():
        teacher = net(images, keep)["teacher"]
        torch.testing.assert_close(net(in_hidden_reference, keep)["teacher"], teacher)
        assert not torch.allclose(net(in_hidden_neighbour, keep)["teacher"], teacher)


def test_heads_can_be_skipped_without_changing_the_others():
    net = tiny_net()
    images = torch.randn(2, 3, 16, 24)
    keep = random_keep(2, net.n_tokens, 0.5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = net(images, keep)
        student_only = net(images, keep, teacher=False, classify=False)
    assert set(student_only) == {"student"}
    torch.testing.assert_close(student_only["student"], full["student"])


def test_student_parameters_do_not_influence_the_teacher():
    net = tiny_net()
    images = torch.randn(2, 3, 16, 24)
    with torch.no_grad():
        before = net(images)["teacher"]
        for p in net.student.parameters():
            p.add_(1.0)
        torch.testing.assert_close(net(images)["teacher"], before)


def test_eval_mode_folds_batchnorm_exactly():
    net = tiny_net()
    projection = net.encoder[0].attn.conv
    with torch.no_grad():
        projection.norm.running_mean.uniform_(-1, 1)
        projection.norm.running_var.uniform_(0.5, 2)
        projection.norm.weight.uniform_(0.5, 2)
    image = torch.randn(2, 48, 4, 6)
    with torch.no_grad():
        reference = projection.norm(projection.conv(image))  # eval BN = running statistics
        torch.testing.assert_close(projection._convolve(image), reference, rtol=1e-4, atol=1e-5)


def test_without_student_or_class_head_those_outputs_are_absent():
    net = tiny_net(student_depth=0, class_head=False)
    out = net(torch.randn(1, 3, 16, 24))
    assert set(out) == {"teacher"}
    assert not net.has_student


@pytest.mark.parametrize("kwargs", [dict(image_size=(15, 24)), dict(student_branch=4), dict(attention_scale="x"),
                                    dict(masked_channels=(2, 4)), dict(masked_channels=(2, 2))])
def test_inconsistent_configurations_are_refused(kwargs):
    with pytest.raises(ValueError):
        tiny_net(**kwargs)


def test_parameter_count_of_the_paper_ped2_setting_is_about_two_million():
    net = CvTMaskedAutoEncoder(in_channels=9, out_channels=4, image_size=(80, 160), patch_size=4)
    assert 2.0e6 < sum(p.numel() for p in net.parameters()) < 2.5e6

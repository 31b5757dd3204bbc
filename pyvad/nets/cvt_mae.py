"""The self-distilled CvT masked auto-encoder of AED-MAE (Ristea et al., CVPR 2024).

Whole frames are cut into ``p x p`` tokens; a share of them is removed (masked), the
rest go through a shared encoder of CvT blocks. A teacher decoder rebuilds every token
of the frame (plus, optionally, an anomaly-map channel); a student decoder branches off
after the teacher decoder's first block and adds its own block(s). A classification head
reads the encoder's final [CLS] token.

CvT block (pre-norm, two residual branches): the spatial tokens, laid out on their 2-D
grid, get a depthwise 3x3 convolution + BatchNorm per projection (query, key, value);
the [CLS] token skips the convolutions; then linear query/key/value maps, multi-head
attention (:func:`torch.nn.functional.scaled_dot_product_attention`), an output map, and
a two-layer point-wise MLP (the paper's "pointwise convolutions", written as linear maps
over tokens, which is the same operation).

Masked tokens and the encoder's convolutions: the visible tokens are scattered back
onto the full grid with zeros at the masked places before each depthwise convolution
and gathered afterwards, so the convolutions always see true spatial neighbours (the
released code folds the shuffled visible tokens into a pseudo-grid instead). There is no
positional embedding, as in the released code: the zero-padded convolutions carry the
position information.

``masked_channels`` switches to another masking: a hidden token stays in the sequence with
only some input channels blanked (with stacked frames, those of the scored frame), so the
network fills that frame in from the token's other frames and its neighbours.

The module is plain: no training, no data handling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CvTBlock", "CvTMaskedAutoEncoder", "patchify", "random_keep", "unpatchify"]

_LN_EPS = 1e-6


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into flattened tokens.

    Parameters
    ----------
    images : Tensor of shape (B, C, H, W)
        ``H`` and ``W`` multiples of ``patch_size``.
    patch_size : int
        Token side ``p``.

    Returns
    -------
    Tensor of shape (B, H/p * W/p, p * p * C)
        Tokens in row-major grid order, each flattened as ``(p, p, C)``.
    """
    b, c, h, w = images.shape
    p = patch_size
    grid = images.reshape(b, c, h // p, p, w // p, p)
    return grid.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(tokens: torch.Tensor, patch_size: int, grid: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`patchify`.

    Parameters
    ----------
    tokens : Tensor of shape (B, gh * gw, p * p * C)
    patch_size : int
    grid : (int, int)
        Token grid ``(gh, gw)``.

    Returns
    -------
    Tensor of shape (B, C, gh * p, gw * p)
    """
    b, _, d = tokens.shape
    p = patch_size
    gh, gw = grid
    c = d // (p * p)
    images = tokens.reshape(b, gh, gw, p, p, c).permute(0, 5, 1, 3, 2, 4)
    return images.reshape(b, c, gh * p, gw * p)


def random_keep(
    batch: int, n_tokens: int, mask_ratio: float, *, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor | None:
    """Indices of the tokens left visible by MAE-style uniform random masking.

    Parameters
    ----------
    batch : int
        Number of frames; each gets its own mask.
    n_tokens : int
        Tokens per frame.
    mask_ratio : float
        Share of tokens removed, in ``[0, 1)``.
    generator : torch.Generator, optional
        Source of randomness (CPU); the global generator when omitted.
    device : torch.device or str, optional
        Device of the returned indices.

    Returns
    -------
    Tensor of shape (batch, n_keep) of int64, or None
        Sorted visible token indices, ``n_keep = round(n_tokens * (1 - mask_ratio))``;
        None when nothing is masked.
    """
    n_keep = max(1, round(n_tokens * (1.0 - mask_ratio)))
    if n_keep >= n_tokens:
        return None
    noise = torch.rand(batch, n_tokens, generator=generator)
    keep = noise.argsort(dim=1)[:, :n_keep].sort(dim=1).values
    return keep.to(device) if device is not None else keep


def _gather_tokens(tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Select ``keep`` (B, K) rows of ``tokens`` (B, N, D)."""
    return tokens.gather(1, keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def _scatter_tokens(
    tokens: torch.Tensor, keep: torch.Tensor, n_tokens: int, fill: torch.Tensor | None = None
) -> torch.Tensor:
    """Place ``tokens`` (B, K, D) at positions ``keep`` of a (B, N, D) sequence of ``fill`` (zeros)."""
    b, _, d = tokens.shape
    if fill is None:
        full = tokens.new_zeros(b, n_tokens, d)
    else:
        full = fill.to(tokens.dtype).expand(b, n_tokens, d).clone()
    return full.scatter(1, keep.unsqueeze(-1).expand(-1, -1, d), tokens)


class _ConvProjections(nn.Module):
    """Depthwise 3x3 conv + BatchNorm for query, key and value (CvT's convolutional projection).

    The token map is repeated three times along channels and filtered by one depthwise
    convolution (channels ``j * dim ... (j + 1) * dim`` are projection ``j``: query, key,
    value), which equals three separate depthwise convolutions but runs as one fast
    channels-last kernel. In eval mode the BatchNorm is folded into the convolution.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3 * dim, 3 * dim, kernel_size=3, padding=1, groups=3 * dim, bias=False)
        self.norm = nn.BatchNorm2d(3 * dim)

    def _convolve(self, image: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.norm(self.conv(image))
        norm = self.norm
        scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
        bias = norm.bias - norm.running_mean * scale
        weight = self.conv.weight * scale[:, None, None, None]
        return F.conv2d(image, weight, bias, padding=1, groups=self.conv.groups)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int], keep: torch.Tensor | None) -> torch.Tensor:
        """(B, K, D) spatial tokens -> (B, K, 3, D) query, key and value inputs."""
        b, _, d = tokens.shape
        n = grid[0] * grid[1]
        full = tokens if keep is None else _scatter_tokens(tokens, keep, n)
        image = full.reshape(b, grid[0], grid[1], d).repeat(1, 1, 1, 3).permute(0, 3, 1, 2)  # channels-last
        out = self._convolve(image).permute(0, 2, 3, 1).reshape(b, n, 3 * d)
        if keep is not None:
            out = _gather_tokens(out, keep)
        return out.reshape(b, -1, 3, d)


class CvTAttention(nn.Module):
    """Multi-head attention with convolutional projections (CvT) over [CLS] + grid tokens.

    Parameters
    ----------
    dim : int
        Token width.
    heads : int
        Attention heads; ``dim`` must be divisible by it.
    scale : float, optional
        Softmax temperature; default ``1 / sqrt(dim / heads)``. The released AED-MAE
        code uses ``1 / sqrt(dim)``.
    """

    def __init__(self, dim: int, heads: int, scale: float | None = None) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.scale = scale
        self.conv = _ConvProjections(dim)
        self.qkv_weight = nn.Parameter(torch.empty(3, dim, dim))
        self.qkv_bias = nn.Parameter(torch.zeros(3, 1, dim))
        self.proj = nn.Linear(dim, dim)
        for weight in self.qkv_weight:
            nn.init.kaiming_uniform_(weight, a=5**0.5)

    def forward(self, x: torch.Tensor, grid: tuple[int, int], keep: torch.Tensor | None) -> torch.Tensor:
        """``x`` (B, 1 + K, D) with [CLS] first; ``keep`` the grid positions of the K tokens."""
        b, length, d = x.shape
        # The [CLS] token skips the convolutions. (Concatenated, not written into a buffer, so a
        # traced graph keeps a dynamic batch.)
        spatial = self.conv(x[:, 1:], grid, keep).permute(2, 0, 1, 3)
        inputs = torch.cat([x[:, :1].unsqueeze(0).expand(3, -1, -1, -1), spatial], dim=2)
        qkv = torch.baddbmm(self.qkv_bias, inputs.reshape(3, b * length, d), self.qkv_weight.transpose(1, 2))
        q, k, v = qkv.reshape(3, b, length, self.heads, d // self.heads).transpose(2, 3)
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(b, length, d))


class CvTBlock(nn.Module):
    """Pre-norm CvT transformer block: conv-projection attention and a point-wise MLP.

    Parameters
    ----------
    dim : int
        Token width.
    heads : int
        Attention heads.
    mlp_ratio : float, default=2.0
        Hidden width of the MLP relative to ``dim``.
    dropout : float, default=0.1
        Dropout after the MLP's activation.
    scale : float, optional
        Attention temperature (see :class:`CvTAttention`).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, dropout: float = 0.1,
                 scale: float | None = None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=_LN_EPS)
        self.attn = CvTAttention(dim, heads, scale)
        self.norm2 = nn.LayerNorm(dim, eps=_LN_EPS)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, grid: tuple[int, int], keep: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (B, 1 + K, D); ``keep`` (B, K) grid positions, None for the full grid.

        Parameters
        ----------
        x : Tensor of shape (B, 1 + K, dim)
            [CLS] token followed by K grid tokens.
        grid : (int, int)
            Token grid ``(gh, gw)``.
        keep : Tensor of shape (B, K), optional
            Grid positions of the K tokens; None when they are the full grid in order.

        Returns
        -------
        Tensor of shape (B, 1 + K, dim)
        """
        x = x + self.attn(self.norm1(x), grid, keep)
        return x + self.mlp(self.norm2(x))


class CvTMaskedAutoEncoder(nn.Module):
    """AED-MAE network: shared encoder, teacher and student decoders, [CLS] classifier.

    Parameters
    ----------
    in_channels : int, default=3
        Channels of the input (frame channels times stacked frames).
    out_channels : int, default=4
        Channels reconstructed per pixel (frame channels, plus 1 for the anomaly map).
    image_size : (int, int), default=(80, 160)
        Input ``(H, W)``; both multiples of ``patch_size``.
    patch_size : int, default=4
        Token side (4 Ped2, 16 Avenue, 8 ShanghaiTech / UBnormal in the paper).
    encoder_dim, encoder_depth, encoder_heads : int, default=256, 3, 4
        Width, blocks and heads of the shared encoder.
    decoder_dim, decoder_depth, decoder_heads : int, default=128, 3, 4
        Width, blocks and heads of the teacher decoder.
    student_branch : int, default=1
        Number of teacher decoder blocks the student shares (it branches after them).
    student_depth : int, default=1
        The student's own blocks (0: no student decoder).
    mlp_ratio : float, default=2.0
        MLP hidden width relative to the block width.
    dropout : float, default=0.1
        MLP dropout.
    class_head : bool, default=True
        Build the linear classifier on the encoder's [CLS] token.
    attention_scale : {"head", "width"}, default="head"
        Softmax temperature ``1/sqrt(head width)`` (standard) or ``1/sqrt(block width)``
        (released code).
    masked_channels : (int, int), optional
        What masking hides. None (default, MAE): a masked token is removed from the
        encoder's input, every channel of it. ``(start, stop)``: only input channels
        ``start:stop`` of a masked token are blanked (set to 0, mid-grey in [-1, 1]) and the
        encoder sees every token; with stacked frames, hiding the scored frame's channels
        leaves its neighbours visible, so the decoder interpolates the frame in time.

    Examples
    --------
    >>> net = CvTMaskedAutoEncoder(in_channels=3, out_channels=4, image_size=(16, 32), patch_size=4,
    ...                            encoder_dim=32, decoder_dim=16)
    >>> out = net(torch.zeros(2, 3, 16, 32), keep=random_keep(2, net.n_tokens, 0.5))
    >>> out["teacher"].shape, out["student"].shape, out["logit"].shape
    (torch.Size([2, 32, 64]), torch.Size([2, 32, 64]), torch.Size([2]))
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 4,
        image_size: Sequence[int] = (80, 160),
        patch_size: int = 4,
        *,
        encoder_dim: int = 256,
        encoder_depth: int = 3,
        encoder_heads: int = 4,
        decoder_dim: int = 128,
        decoder_depth: int = 3,
        decoder_heads: int = 4,
        student_branch: int = 1,
        student_depth: int = 1,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        class_head: bool = True,
        attention_scale: str = "head",
        masked_channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        height, width = (int(s) for s in image_size)
        if height % patch_size or width % patch_size:
            raise ValueError(f"image_size {tuple(image_size)} must be a multiple of patch_size={patch_size}")
        if not 1 <= student_branch <= decoder_depth:
            raise ValueError(f"student_branch={student_branch} must lie in [1, decoder_depth={decoder_depth}]")
        if attention_scale not in ("head", "width"):
            raise ValueError(f"attention_scale must be 'head' or 'width', got {attention_scale!r}")
        if masked_channels is not None:
            start, stop = (int(c) for c in masked_channels)
            if not 0 <= start < stop <= in_channels:
                raise ValueError(f"masked_channels={tuple(masked_channels)} must be (start, stop) with "
                                 f"0 <= start < stop <= in_channels={in_channels}")
            masked_channels = (start, stop)
        self.masked_channels = masked_channels
        self.patch_size = int(patch_size)
        self.grid = (height // patch_size, width // patch_size)
        self.out_channels = int(out_channels)
        self.student_branch = int(student_branch)

        def block(dim: int, heads: int) -> CvTBlock:
            scale = dim**-0.5 if attention_scale == "width" else None
            return CvTBlock(dim, heads, mlp_ratio, dropout, scale)

        self.patch_embed = nn.Conv2d(in_channels, encoder_dim, kernel_size=patch_size, stride=patch_size)
        self.embed_norm = nn.LayerNorm(encoder_dim, eps=_LN_EPS)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, encoder_dim))
        self.encoder = nn.ModuleList(block(encoder_dim, encoder_heads) for _ in range(encoder_depth))
        self.encoder_norm = nn.LayerNorm(encoder_dim, eps=_LN_EPS)
        self.class_head = nn.Linear(encoder_dim, 1) if class_head else None
        self.decoder_embed = nn.Linear(encoder_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        token_values = patch_size * patch_size * out_channels
        self.decoder = nn.ModuleList(block(decoder_dim, decoder_heads) for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=_LN_EPS)
        self.teacher_head = nn.Linear(decoder_dim, token_values)
        self.student = nn.ModuleList(block(decoder_dim, decoder_heads) for _ in range(student_depth))
        self.student_norm = nn.LayerNorm(decoder_dim, eps=_LN_EPS) if student_depth else None
        self.student_head = nn.Linear(decoder_dim, token_values) if student_depth else None

    @property
    def n_tokens(self) -> int:
        """Tokens per frame."""
        return self.grid[0] * self.grid[1]

    @property
    def has_student(self) -> bool:
        """Whether a student decoder exists."""
        return self.student_head is not None

    #: Sub-modules frozen during self-distillation (everything but the student).
    SHARED_MODULES: tuple[str, ...] = (
        "patch_embed", "embed_norm", "encoder", "encoder_norm", "class_head",
        "decoder_embed", "decoder", "decoder_norm", "teacher_head",
    )
    #: Sub-modules trained during self-distillation.
    STUDENT_MODULES: tuple[str, ...] = ("student", "student_norm", "student_head")

    def blank_masked(self, images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``images`` with channels ``masked_channels`` set to 0 in every token not in ``keep`` (B, K).

        Only for a network built with ``masked_channels``.

        Parameters
        ----------
        images : Tensor of shape (B, in_channels, H, W)
            Input images.
        keep : Tensor of shape (B, K), int64
            Visible token positions on the grid (see :func:`random_keep`).

        Returns
        -------
        Tensor of shape (B, in_channels, H, W)
            A new tensor; the other channels, and visible tokens, are unchanged.
        """
        start, stop = self.masked_channels
        visible = images.new_zeros(images.shape[0], self.n_tokens).scatter(1, keep, 1.0)
        p = self.patch_size
        visible = visible.reshape(-1, 1, *self.grid).repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)
        # concatenated, not assigned in place, so autograd and traced graphs see one plain op
        return torch.cat([images[:, :start], images[:, start:stop] * visible, images[:, stop:]], dim=1)

    def encode(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Encode the visible tokens.

        Parameters
        ----------
        images : Tensor of shape (B, in_channels, H, W)
        keep : Tensor of shape (B, K), optional
            Sorted visible token positions (see :func:`random_keep`); all tokens if None.

        Returns
        -------
        Tensor of shape (B, 1 + K, encoder_dim)
            Normalised [CLS] token followed by the visible tokens.
        """
        tokens = self.embed_norm(self.patch_embed(images).flatten(2).transpose(1, 2))
        if keep is not None:
            tokens = _gather_tokens(tokens, keep)
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        for block in self.encoder:
            x = block(x, self.grid, keep)
        return self.encoder_norm(x)

    def _decoder_input(self, latent: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """Embed the latent and put mask tokens at the masked places: (B, 1 + N, decoder_dim)."""
        x = self.decoder_embed(latent)
        if keep is None:
            return x
        spatial = _scatter_tokens(x[:, 1:], keep, self.n_tokens, fill=self.mask_token)
        return torch.cat([x[:, :1], spatial], dim=1)

    def forward(
        self, images: torch.Tensor, keep: torch.Tensor | None = None, *,
        teacher: bool = True, student: bool = True, classify: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Run the encoder once and the requested heads.

        Parameters
        ----------
        images : Tensor of shape (B, in_channels, H, W)
        keep : Tensor of shape (B, K), optional
            Visible token positions; all tokens if None. With ``masked_channels``, the
            other tokens are blanked in those channels instead of removed.
        teacher, student, classify : bool, default=True
            Which outputs to compute (work for the others is skipped). ``student`` is
            ignored without a student decoder, ``classify`` without a class head.

        Returns
        -------
        dict of str to Tensor
            ``"teacher"`` and ``"student"``: (B, N, p*p*out_channels) token
            reconstructions; ``"logit"``: (B,) anomaly logit of the [CLS] token.
        """
        if keep is not None and self.masked_channels is not None:
            images, keep = self.blank_masked(images, keep), None
        latent = self.encode(images, keep)
        out: dict[str, torch.Tensor] = {}
        if classify and self.class_head is not None:
            out["logit"] = self.class_head(latent[:, 0]).squeeze(-1)
        want_student = student and self.has_student
        if not (teacher or want_student):
            return out
        x = self._decoder_input(latent, keep)
        last = len(self.decoder) if teacher else self.student_branch
        for index, block in enumerate(self.decoder[:last]):
            x = block(x, self.grid)
            if want_student and index + 1 == self.student_branch:
                out["student"] = self._student(x)
        if teacher:
            out["teacher"] = self.teacher_head(self.decoder_norm(x)[:, 1:])
        return out

    def _student(self, shared: torch.Tensor) -> torch.Tensor:
        """Student branch from the output of the shared teacher decoder blocks."""
        x = shared
        for block in self.student:
            x = block(x, self.grid)
        return self.student_head(self.student_norm(x)[:, 1:])

"""Training losses: SoftLoc (soft localisation + mass convergence) and frame-wise baselines.

Conventions
-----------
- Tensors are ``(batch, frames, classes)``; ``mask`` is ``(batch, frames)`` bool with True on real
  frames (False on padding). Padded frames never contribute, so a padded batch gives the same
  per-sequence values as each sequence on its own.
- Losses take **logits** (pre-sigmoid outputs), so ``log p = logsigmoid(x)`` and
  ``log(1 - p) = logsigmoid(-x)`` are exact and finite. The lower-level functions
  (:func:`sll_loss`, :func:`count_nll`) take probabilities or log-probabilities so that tests can
  feed probabilities of exactly 0 and 1.
- Targets are 0/1 per frame (or event counts per frame). A (sequence, class) count is the
  rounded sum of its targets over the real frames.
- Softness is in seconds in :class:`LossConfig` and in frames (``softness_frames``) everywhere
  else; ``frame_rate_hz`` converts.
- Reductions: every term is first computed per (sequence, class) -- summed over frames for the
  frame-wise terms (L_SLL, BCE), the negative log-probability of the whole count for L_MC -- and
  then averaged over sequences and classes. Both SoftLoc terms therefore grow with the number of
  events in a crop, not with the batch size, so ``alpha`` keeps its meaning at any crop length
  and batch size. (The authors summed L_SLL over the batch and averaged L_MC, which makes their
  L_SLL ``batch_size`` times larger; ``sll_weight=32`` reproduces their balance at batch 32.)
- Everything runs in float32 (float64 stays float64; float16/bfloat16 are upcast), on any device;
  :class:`Loss` objects disable autocast around themselves.
- Knobs for mass convergence (each event an impulse in one frame): ``alpha_end`` up to 0.9 (the
  paper's value) or above, a narrowing softness (``softness_end_s``), the Eq. 5 measure
  (``measure="log"``, which punishes a wrong frame without bound), and ``sll_weight``.

References: Schroeter et al., "SoftLoc", ICLR 2020, Eqs. 2-5; Reed et al. 2014 (bootstrapping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from .configs import from_dict as _config_from_dict
from .errors import ConfigError

MEASURES = ("mse", "log")
SCHEDULES = ("constant", "ramp", "linear")
KERNEL_RADIUS_SIGMAS = 4.0  # Gaussian truncated at 4 sigma, as in the authors' code
# Polynomials up to this length are multiplied directly (one multiply-add per coefficient pair),
# longer ones by FFT; up to the second length when there are many pairs (measured on CPU).
_DIRECT_PRODUCT_MAX_LEN = (9, 17)
_DIRECT_PRODUCT_MIN_PAIRS = 1 << 15
_TILT_MAX_ITERATIONS = 40


# ----------------------------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A scalar that changes with the training step.

    Kinds
    -----
    ``constant``
        Always ``start``.
    ``ramp``
        The paper's ramp ``max(min((step - ramp_start) / ramp_steps, hi), lo)`` with
        ``lo, hi = sorted((start, end))``: held at ``lo`` until the ramp passes it, then linear
        with slope ``1 / ramp_steps``, capped at ``hi``.
    ``linear``
        ``start`` until ``ramp_start``, then linear to ``end`` at ``ramp_start + ramp_steps``,
        then ``end`` (a warm-up when ``end > start``, an annealing when ``end < start``).

    Examples
    --------
    >>> Schedule("ramp", start=0.2, end=0.9, ramp_start=100_000, ramp_steps=100_000)(150_000)
    0.5
    """

    kind: str
    start: float
    end: float
    ramp_start: int = 0
    ramp_steps: int = 1

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ConfigError(f"schedule kind {self.kind!r} is unknown; valid kinds are {', '.join(SCHEDULES)}")
        if self.ramp_steps < 1:
            raise ConfigError(f"ramp_steps={self.ramp_steps} must be a positive integer")

    def __call__(self, step: int) -> float:
        if self.kind == "constant":
            return float(self.start)
        progress = (step - self.ramp_start) / self.ramp_steps
        if self.kind == "ramp":
            lo, hi = sorted((self.start, self.end))
            return float(max(min(progress, hi), lo))
        progress = min(max(progress, 0.0), 1.0)
        return float(self.start + (self.end - self.start) * progress)


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


@dataclass
class LossConfig:
    """Every setting of the training loss; stored in the model's ``config.json``.

    The registry key ``name`` picks the loss (:func:`loss_names`); fields that the chosen loss
    does not use are kept but ignored.
    """

    name: str = "softloc"  # registry key: softloc | sll | mc | bce | smoothed | bootstrap
    # --- soft localisation (L_SLL) ---
    softness_s: float = 0.08  # Gaussian std, 80 ms (paper drum sweep: softness ~ U[0, 150] ms)
    softness_end_s: float | None = None  # if set, softness narrows linearly to this value ...
    softness_ramp_start: int = 0  # ... starting at this step ...
    softness_ramp_steps: int = 10_000  # ... and reaching it this many steps later
    measure: str = "mse"  # "mse": bounded local squared error (paper, Sec. 4.1); "log": -log(1-|d|), Eq. 5
    sll_weight: float = 1.0  # multiplies L_SLL inside the mix; 32 = authors' batch-summed scale at batch 32
    softloc_widen_frames: int | None = None  # softloc: each label a run of 2w+1 frames, as a BCE model
    # with bce_widen_frames = w learnt them: fine-tuning such a model then keeps its peaks near 1 (L_MC
    # asks for a mass of 2w+1 per hit instead of 1, which flattens its plateaus to ~0.4);
    # None: the init model's own width (:func:`target_width`) when fine-tuning, else 0
    # --- mixing weight alpha of L_MC: L = (1 - alpha) * sll_weight * L_SLL + alpha * L_MC ---
    alpha_schedule: str = "ramp"  # "constant" (alpha_start) | "ramp" (paper) | "linear" (warm-up)
    alpha_start: float = 0.2  # paper: lower clip 0.2
    alpha_end: float = 0.9  # paper: upper clip 0.9
    alpha_ramp_start: int = 0  # paper: 1e5 (piano) / 3e4 (drums) of 150-160k steps; here for ~10k-step runs
    alpha_ramp_steps: int = 5_000  # paper: 1e5; with ramp_start 0: alpha 0.2 until step 1000, 0.9 from 4500
    # --- baselines ---
    bce_pos_weight: float = 1.0  # weight of positive frames in bce / smoothed / bootstrap
    bce_widen_frames: int = 0  # bce: targets widened to +-this many frames (1 = the prototype's +-1 frame)
    smoothed_sigma_s: float = 0.02  # smoothed: std of the peak-1 Gaussian that widens the labels, 20 ms
    bootstrap_beta: float = 0.95  # bootstrap: target = beta * y + (1 - beta) * p_detached (Reed et al. 2014)

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise ConfigError(f"loss {self.name!r} is unknown; available losses = {loss_names()}")
        if self.measure not in MEASURES:
            raise ConfigError(f"measure={self.measure!r} is unknown; expected one of {', '.join(MEASURES)}")
        if self.alpha_schedule not in SCHEDULES:
            raise ConfigError(
                f"alpha_schedule={self.alpha_schedule!r} is unknown; expected one of {', '.join(SCHEDULES)}"
            )
        for key in ("alpha_start", "alpha_end", "bootstrap_beta"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{key}={getattr(self, key)} must lie in [0, 1]")
        for key in ("softness_s", "softness_end_s"):
            value = getattr(self, key)
            if value is not None and not 0.0 <= value < 10.0:
                raise ConfigError(f"{key}={value} must be >= 0 seconds (did you give milliseconds?)")
        if not 0.0 < self.smoothed_sigma_s < 10.0:
            raise ConfigError(f"smoothed_sigma_s={self.smoothed_sigma_s} must be > 0 seconds")
        for key in ("alpha_ramp_steps", "softness_ramp_steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}={getattr(self, key)} must be a positive integer")
        for key in ("bce_widen_frames", "softloc_widen_frames"):
            if (getattr(self, key) or 0) < 0:
                raise ConfigError(f"{key}={getattr(self, key)} must be >= 0")
        if self.bce_pos_weight <= 0 or self.sll_weight <= 0:
            raise ConfigError("bce_pos_weight and sll_weight must be > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LossConfig:
        """Load a config saved with ``dataclasses.asdict``.

        Raises
        ------
        ConfigError
            On an unknown key (the valid ones are listed), a wrong type or an invalid value.
        """
        return _config_from_dict(cls, data, where="loss")

    def alpha(self) -> Schedule:
        """The alpha schedule described by the ``alpha_*`` fields."""
        return Schedule(
            self.alpha_schedule, self.alpha_start, self.alpha_end, self.alpha_ramp_start, self.alpha_ramp_steps
        )

    def softness(self, *, frame_rate_hz: float) -> Schedule:
        """The softness schedule, in frames."""
        start = self.softness_s * frame_rate_hz
        if self.softness_end_s is None:
            return Schedule("constant", start, start)
        end = self.softness_end_s * frame_rate_hz
        return Schedule("linear", start, end, self.softness_ramp_start, self.softness_ramp_steps)


# ----------------------------------------------------------------------------------------------
# Soft localisation (L_SLL)
# ----------------------------------------------------------------------------------------------


def gaussian_smooth(values: Tensor, softness_frames: Tensor | float, *, normalise: str = "sum") -> Tensor:
    """Smooth along time with a zero-padded ('same') Gaussian, one std per sequence.

    Parameters
    ----------
    values : torch.Tensor [shape=(batch, frames, classes)]
    softness_frames : float or torch.Tensor [shape=(batch,)], >= 0
        Gaussian std in frames; 0 leaves the sequence unchanged. Each kernel is truncated at
        ``ceil(4 * std)`` frames.
    normalise : {"sum", "peak"}
        "sum": the kernel sums to 1 (mass is kept; L_SLL). "peak": the kernel peaks at 1 (label
        widening for the ``smoothed`` baseline).

    Returns
    -------
    torch.Tensor [shape=(batch, frames, classes)]
    """
    values = _upcast(values)
    batch, n_frames, _ = values.shape
    softness = torch.as_tensor(softness_frames, dtype=values.dtype, device=values.device)
    if softness.dim() > 1 or softness.dim() == 1 and softness.shape[0] != batch:
        raise ValueError(f"softness_frames has shape {tuple(softness.shape)}; expected () or (batch,) = ({batch},)")
    softness = softness.expand(batch)
    radius = int(math.ceil(KERNEL_RADIUS_SIGMAS * float(softness.max())))
    if radius == 0:
        return values
    offsets = torch.arange(-radius, radius + 1, dtype=values.dtype, device=values.device)
    safe = softness.clamp_min(1e-12)[:, None]
    kernel = torch.exp(-0.5 * (offsets / safe) ** 2)
    kernel = kernel * (offsets.abs() <= torch.ceil(KERNEL_RADIUS_SIGMAS * softness)[:, None])
    kernel = torch.where(softness[:, None] > 0, kernel, (offsets == 0).to(values.dtype))
    if normalise == "sum":
        kernel = kernel / kernel.sum(-1, keepdim=True)
    n_fft = _fast_len(n_frames + 2 * radius)
    spectrum = torch.fft.rfft(values.transpose(1, 2), n=n_fft) * torch.fft.rfft(kernel, n=n_fft)[:, None, :]
    smoothed = torch.fft.irfft(spectrum, n=n_fft)[..., radius : radius + n_frames]
    return smoothed.transpose(1, 2)


def sll_loss(
    probs: Tensor,
    targets: Tensor,
    softness_frames: Tensor | float,
    mask: Tensor | None = None,
    measure: str = "mse",
) -> Tensor:
    """Soft localisation loss L_SLL (Eq. 2) per sequence and class.

    The same sum-normalised Gaussian smooths predictions and labels; since smoothing is linear,
    ``d = g * (probs - targets)`` is the difference of the two smoothed processes, and
    ``|d| <= 1`` for probabilities and 0/1 labels.

    Parameters
    ----------
    probs : torch.Tensor [shape=(batch, frames, classes)], values in [0, 1]
    targets : torch.Tensor [shape=(batch, frames, classes)], values in {0, 1}
    softness_frames : float or torch.Tensor [shape=(batch,)], >= 0
        Gaussian std in frames, per sequence (per-file reliability). 0 compares frame by frame.
    mask : torch.Tensor [shape=(batch, frames)], bool, optional
        True on real frames; padded frames are zeroed before smoothing and not summed.
    measure : {"mse", "log"}
        "mse": ``sum_t d_t**2`` (the paper's bounded local squared error). "log":
        ``sum_t -log(1 - |d_t|)`` (Eq. 5), which tends to summed BCE as softness -> 0;
        ``1 - |d|`` is clamped at the dtype's eps so the value stays finite.

    Returns
    -------
    torch.Tensor [shape=(batch, classes)]
        The loss summed over real frames.

    Examples
    --------
    >>> y = torch.zeros(1, 50, 1); y[0, 20, 0] = 1
    >>> float(sll_loss(y, y, 3.0).sum())
    0.0
    """
    if measure not in MEASURES:
        raise ValueError(f"measure={measure!r} is unknown; expected one of {', '.join(MEASURES)}")
    _check_same_shape(probs, targets)
    probs, targets = _upcast(probs), _upcast(targets)
    frame_mask = _frame_mask(mask, probs)
    diff = gaussian_smooth((probs - targets) * frame_mask, softness_frames)
    if measure == "mse":
        per_frame = diff**2
    else:
        eps = torch.finfo(diff.dtype).eps
        per_frame = -torch.log((1 - diff.abs()).clamp_min(eps))
    return (per_frame * frame_mask).sum(1)


# ----------------------------------------------------------------------------------------------
# Mass convergence / count (L_MC)
# ----------------------------------------------------------------------------------------------


def log_probabilities(probs: Tensor) -> tuple[Tensor, Tensor]:
    """``(log p, log(1 - p))`` of probabilities, finite (and with finite gradients) at 0 and 1.

    Both arguments of the logarithm are clamped at the dtype's smallest normal number *before*
    taking the log, so ``p = 0`` or ``p = 1`` gives about -87 (float32) and a zero gradient.
    """
    tiny = torch.finfo(probs.dtype).tiny
    return torch.log(probs.clamp_min(tiny)), torch.log((1 - probs).clamp_min(tiny))


def count_nll(log_p: Tensor, log_q: Tensor, counts: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mass-convergence loss L_MC (Eq. 3): ``-log P(N = k)`` per sequence and class.

    ``N = sum_t B_t`` is the Poisson-binomial count of independent per-frame events with
    probabilities ``p_t``, ``k`` the labelled count. ``P(N = k)`` is the coefficient of ``z**k``
    in ``G(z) = prod_t (q_t + p_t z)``; it is computed exactly (no absorbing state), as follows.

    1. Exponential tilting. For any ``lam = exp(theta) > 0``,
       ``q_t + p_t lam w = (q_t + p_t lam) (q'_t + p'_t w)`` with ``p'_t = sigmoid(x_t + theta)``
       and ``x_t = log p_t - log q_t``, hence
       ``log P(N = k) = log P'(N = k) - k theta + sum_t log(q_t + p_t lam)``.
       ``theta`` (per sequence and class, no gradient) is chosen by a few Newton steps so that
       the tilted mean ``sum_t p'_t`` is about ``k``; then ``P'(N = k)`` is near the mode of the
       tilted distribution (about ``1 / sqrt(2 pi var)`` or more) and the computation can run in
       probability space without underflow, even for 100,000 frames and ``k`` in the
       thousands. Being an identity for every ``theta``, it leaves values and gradients exact.
    2. Truncated product tree. The ``T`` tilted factors ``(q'_t + p'_t w)`` are multiplied
       pairwise in ``ceil(log2 T)`` levels, keeping only coefficients ``0..k_max`` (higher
       powers never feed lower ones). Short products are formed directly, long ones by FFT:
       about ``log2(k_max)`` passes over all ``T`` frames, then levels that halve; depth
       ``log2 T``. The authors' loop over frames is ``T`` sequential steps of ``k_max`` states.
    3. Analytic gradient. ``d(-log P(N = k))/d(log p_t) = -g_t`` and ``.../d(log q_t) = -(1 - g_t)``
       with ``g_t = P(B_t = 1 | N = k)``, obtained by running the tree backwards once.

    Parameters
    ----------
    log_p, log_q : torch.Tensor [shape=(batch, frames, classes)], values <= 0
        ``log p_t`` and ``log(1 - p_t)``: ``F.logsigmoid(x)`` and ``F.logsigmoid(-x)`` of logits,
        or :func:`log_probabilities` of probabilities. Values are clamped below at
        ``log(finfo.tiny)`` so that ``-inf`` gives a finite loss.
    counts : torch.Tensor [shape=(batch, classes)], integers >= 0
        Labelled event counts. A count above the number of real frames cannot happen and is
        clamped to it (this keeps the loss finite).
    mask : torch.Tensor [shape=(batch, frames)], bool, optional
        True on real frames. Padded frames contribute the factor 1 (no event possible).

    Returns
    -------
    torch.Tensor [shape=(batch, classes)]
        ``-log P(N = k)`` (>= 0 up to rounding), finite.

    Examples
    --------
    >>> p = torch.full((1, 4, 1), 0.5)
    >>> count_nll(*log_probabilities(p), torch.tensor([[2]]))  # -log(6/16)
    tensor([[0.9808]])
    """
    _check_same_shape(log_p, log_q)
    log_p, log_q = _upcast(log_p), _upcast(log_q)
    floor = math.log(torch.finfo(log_p.dtype).tiny)
    log_p, log_q = log_p.clamp_min(floor), log_q.clamp_min(floor)
    frame_mask = _frame_mask(mask, log_q)
    return -(log_q * frame_mask).sum(1) + _tilted_count_term(log_p - log_q, counts, mask=mask)


def count_nll_from_logits(logits: Tensor, counts: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """:func:`count_nll` of ``p = sigmoid(logits)``, with fewer passes over the data.

    Parameters
    ----------
    logits : torch.Tensor [shape=(batch, frames, classes)]
    counts : torch.Tensor [shape=(batch, classes)], integers >= 0
    mask : torch.Tensor [shape=(batch, frames)], bool, optional

    Returns
    -------
    torch.Tensor [shape=(batch, classes)]
    """
    logits = _upcast(logits)
    frame_mask = _frame_mask(mask, logits)
    return (F.softplus(logits) * frame_mask).sum(1) + _tilted_count_term(logits, counts, mask=mask)


def _tilted_count_term(logits: Tensor, counts: Tensor, *, mask: Tensor | None) -> Tensor:
    """``-log P(N = k) + log P(N = 0)`` per sequence and class; 0 where ``k = 0``.

    ``logits`` are ``log p_t - log q_t`` ``(batch, frames, classes)``; returns ``(batch, classes)``.
    """
    batch, n_frames, n_classes = logits.shape
    if counts.shape != (batch, n_classes):
        raise ValueError(f"counts has shape {tuple(counts.shape)}; expected (batch, classes) = {(batch, n_classes)}")
    x = logits.transpose(1, 2).reshape(batch * n_classes, n_frames)
    k = counts.to(x.device).reshape(-1).round().long().clamp(0, n_frames)
    valid = None
    if mask is not None:
        valid = mask.to(device=x.device, dtype=torch.bool).repeat_interleave(n_classes, dim=0)
        k = torch.minimum(k, valid.sum(-1))
    if bool((k > 0).all()):
        return _TiltedCountTerm.apply(x, valid, k).reshape(batch, n_classes)
    term = x.new_zeros(batch * n_classes)
    rows = (k > 0).nonzero()[:, 0]
    if rows.numel():
        valid_rows = None if valid is None else valid[rows]
        term = term.scatter(0, rows, _TiltedCountTerm.apply(x[rows], valid_rows, k[rows]))
    return term.reshape(batch, n_classes)


class _TiltedCountTerm(torch.autograd.Function):
    """``R(x) = -log P(N = k) - sum_t log q_t`` per row, with its analytic gradient.

    Here ``x_t = log p_t - log q_t``. By the tilting identity (see :func:`count_nll`),
    ``R = -log P'(N = k) + k theta - sum_t softplus(x_t + theta)``. With
    ``g_t = P(B_t = 1 | N = k)``, the posterior that frame ``t`` fires given the count,
    ``dR/dx_t = -g_t`` (so ``d(-log P)/dx_t = sigmoid(x_t) - g_t`` for logits). Tilting leaves
    ``g_t`` unchanged: ``g_t = p'_t * (dP'(N = k)/dp'_t) / P'(N = k)``, read off the product
    tree by one downward pass.
    """

    @staticmethod
    def forward(ctx, x: Tensor, valid: Tensor | None, k: Tensor) -> Tensor:
        theta = _tilt(x, valid, k)
        shifted = x + theta[:, None]
        p_tilted, q_tilted = torch.sigmoid(shifted), torch.sigmoid(-shifted)
        log_scale_terms = F.softplus(shifted)
        if valid is not None:  # padded frames: factor 1
            p_tilted, q_tilted = p_tilted * valid, torch.where(valid, q_tilted, 1.0)
            log_scale_terms = log_scale_terms * valid
        root, levels = _product_tree(q_tilted, p_tilted, keep=int(k.max()) + 1)
        p_k = root.gather(-1, k[:, None])[:, 0].clamp_min(torch.finfo(root.dtype).tiny)
        ctx.levels = levels
        ctx.root_len = root.shape[-1]
        ctx.save_for_backward(p_tilted, p_k, k)
        return -torch.log(p_k) + k * theta - log_scale_terms.sum(-1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        p_tilted, p_k, k = ctx.saved_tensors
        root_adjoint = F.one_hot(k, ctx.root_len).to(p_tilted.dtype)[:, None, :]
        posterior = (p_tilted * _leaf_adjoints(ctx.levels, root_adjoint)).div_(p_k[:, None]).clamp_(0.0, 1.0)
        return posterior.mul_(-grad[:, None]), None, None


@torch.no_grad()
def _tilt(logits: Tensor, valid: Tensor | None, counts: Tensor) -> Tensor:
    """``theta`` per row such that ``sum_t sigmoid(logits + theta)`` is close to ``counts``.

    Newton steps on ``phi(theta) = log m - log(n - m)`` (``m`` the tilted mean, ``n`` the number
    of real frames), aiming at ``k`` clamped to ``[0.5, n - 0.5]`` (``k = 0`` and ``k = n`` have
    no finite ``theta``). Stops once every mean is within ``2 std + 1`` of its target; any
    ``theta`` is exact, a good one only avoids underflow.
    """
    if valid is None:
        x, n = logits, torch.full_like(logits[:, 0], logits.shape[1])
    else:
        x, n = logits.masked_fill(~valid, -math.inf), valid.sum(-1).to(logits.dtype).clamp_min(1.0)
    half = torch.minimum(n / 2, torch.full_like(n, 0.5))
    target = counts.to(x.dtype).clamp(min=0).clamp(min=half).minimum(n - half)
    theta = torch.log(target) - torch.logsumexp(x, -1)  # exact when every p'_t is small
    theta = torch.nan_to_num(theta, nan=0.0, posinf=0.0, neginf=0.0)
    phi_target = torch.log(target) - torch.log(n - target)
    tiny = torch.finfo(x.dtype).tiny
    for _ in range(_TILT_MAX_ITERATIONS):
        p = torch.sigmoid(x + theta[:, None])
        mean = p.sum(-1)
        var = mean - (p * p).sum(-1)
        if bool(((mean - target).abs() <= 2 * var.clamp_min(0).sqrt() + 1).all()):
            break
        mean, mean_complement = mean.clamp_min(tiny), (n - mean).clamp_min(tiny)
        phi = torch.log(mean) - torch.log(mean_complement)
        slope = (var * (1 / mean + 1 / mean_complement)).clamp_min(1e-12)
        theta = theta + ((phi_target - phi) / slope).clamp(-20.0, 20.0)
    return theta


def _product_tree(q: Tensor, p: Tensor, *, keep: int) -> tuple[Tensor, list[tuple]]:
    """Coefficients ``0..keep-1`` of ``prod_t (q_t + p_t z)`` per row, and the tree's levels.

    Polynomials are multiplied pairwise, level by level (polynomial ``i`` with ``i + n/2``: the
    order of the factors does not matter, and halves are contiguous in memory), each product
    truncated to ``keep`` coefficients (higher powers never feed lower ones, so this is exact). Short
    polynomials are kept as coefficient planes ``(length, rows, n)`` and multiplied directly;
    longer ones (see :func:`_multiply_directly`) are ``(rows, n, length)`` and multiplied by FFT.

    Parameters
    ----------
    q, p : torch.Tensor [shape=(rows, frames)]
        Factor coefficients (``q = 1, p = 0`` is the neutral factor).
    keep : int >= 1

    Returns
    -------
    root : torch.Tensor [shape=(rows, min(keep, frames + 1))]
    levels : list
        What :func:`_leaf_adjoints` needs to run the tree backwards.
    """
    levels: list[tuple] = []
    planes = torch.stack([q, p])[:keep]
    while planes.shape[2] > 1 and _multiply_directly(planes.shape[0], planes.shape[1] * planes.shape[2] // 2):
        n_polys = planes.shape[2]
        planes = _pad_to_even(planes, dim=2)
        levels.append(("planes", planes, n_polys))
        half = planes.shape[2] // 2
        planes = _multiply_planes(planes[..., :half], planes[..., half:], keep=keep)
    polys = planes.permute(1, 2, 0).contiguous()
    levels.append(("to_polys",))
    while polys.shape[1] > 1:
        n_polys, length = polys.shape[1], polys.shape[2]
        polys = _pad_to_even(polys, dim=1)
        n_fft = _fast_len(2 * length - 1)
        spectra = torch.fft.rfft(polys, n=n_fft)
        spectrum_a, spectrum_b = spectra.chunk(2, dim=1)
        levels.append(("fft", spectrum_a, spectrum_b, n_fft, length, n_polys))
        polys = torch.fft.irfft(spectrum_a * spectrum_b, n=n_fft)[..., : min(2 * length - 1, keep)].contiguous()
    return polys[:, 0], levels


def _leaf_adjoints(levels: list[tuple], root_adjoint: Tensor) -> Tensor:
    """Derivatives of a linear function of the root w.r.t. each leaf's ``p_t``.

    Runs :func:`_product_tree` backwards: for ``c = a * b`` (truncated), the adjoint of ``a``
    is the correlation of ``c``'s adjoint with ``b``, and vice versa.

    Parameters
    ----------
    levels : list
        From :func:`_product_tree`.
    root_adjoint : torch.Tensor [shape=(rows, 1, root_length)]

    Returns
    -------
    torch.Tensor [shape=(rows, frames)]
        ``d/dp_t`` (the leaves are ``q_t + p_t z``).
    """
    adjoint = root_adjoint
    for level in reversed(levels):
        first = 1 if level is levels[0] else 0  # the leaves (planes): only d/dp_t is needed
        if level[0] == "fft":
            _, spectrum_a, spectrum_b, n_fft, length, n_polys = level
            spectrum = torch.fft.rfft(adjoint, n=n_fft)
            half = spectrum.shape[1]
            products = spectrum.new_empty(spectrum.shape[0], 2 * half, spectrum.shape[2])
            torch.mul(spectrum, spectrum_b.conj(), out=products[:, :half])
            torch.mul(spectrum, spectrum_a.conj(), out=products[:, half:])
            adjoint = torch.fft.irfft(products, n=n_fft)[:, :n_polys, :length].contiguous()
        elif level[0] == "to_polys":
            adjoint = adjoint.permute(2, 0, 1)[first:].contiguous()
        else:
            _, planes, n_polys = level
            children, half = torch.empty_like(planes[first:]), planes.shape[2] // 2
            _correlate_planes(adjoint, planes[..., half:], out=children[..., :half], first=first)
            _correlate_planes(adjoint, planes[..., :half], out=children[..., half:], first=first)
            adjoint = children[..., :n_polys]
    return adjoint[0]  # planes (1, rows, frames): only d/dp_t was kept at the leaves


def _multiply_directly(length: int, n_pairs: int) -> bool:
    """Whether pairs of polynomials of this length are cheaper to multiply without FFT."""
    short, medium = _DIRECT_PRODUCT_MAX_LEN
    return length <= short or length <= medium and n_pairs >= _DIRECT_PRODUCT_MIN_PAIRS


def _pad_to_even(polys: Tensor, *, dim: int) -> Tensor:
    """Append the neutral polynomial ``1`` along ``dim`` when that axis has odd length."""
    if polys.shape[dim] % 2 == 0:
        return polys
    shape = list(polys.shape)
    shape[dim] = 1
    identity = polys.new_zeros(shape)
    coefficient_dim = 0 if dim == 2 else -1
    identity.narrow(coefficient_dim, 0, 1).fill_(1)
    return torch.cat([polys, identity], dim)


def _multiply_planes(a: Tensor, b: Tensor, *, keep: int) -> Tensor:
    """``out[j] = sum_i a[i] * b[j - i]`` for planes ``(length, ...)``, ``j < keep``."""
    length = a.shape[0]
    out = a.new_empty((min(2 * length - 1, keep),) + a.shape[1:])
    for j in range(out.shape[0]):
        lo, hi = max(0, j - length + 1), min(j, length - 1)
        torch.mul(a[lo], b[j - lo], out=out[j])
        for i in range(lo + 1, hi + 1):
            out[j].addcmul_(a[i], b[j - i])
    return out


def _correlate_planes(adjoint: Tensor, other: Tensor, *, out: Tensor, first: int = 0) -> None:
    """``out[i - first] = sum_m adjoint[i + m] * other[m]`` for planes ``(length, ...)``."""
    out_len, length = adjoint.shape[0], other.shape[0]
    for i in range(first, length):
        terms = min(length, out_len - i)
        if terms <= 0:
            out[i - first].zero_()
            continue
        torch.mul(adjoint[i], other[0], out=out[i - first])
        for m in range(1, terms):
            out[i - first].addcmul_(adjoint[i + m], other[m])


# ----------------------------------------------------------------------------------------------
# Loss objects and registry
# ----------------------------------------------------------------------------------------------


class Loss:
    """A training loss: ``loss(logits, targets, mask=..., step=...) -> (scalar, parts)``.

    Subclasses implement :meth:`forward`; :meth:`__call__` checks shapes and runs it in float32
    (float64 stays float64) with autocast disabled.
    """

    name: ClassVar[str] = ""

    def __init__(self, config: LossConfig, *, frame_rate_hz: float):
        if not frame_rate_hz > 0:
            raise ConfigError(f"frame_rate_hz={frame_rate_hz} must be > 0")
        self.config = config
        self.frame_rate_hz = float(frame_rate_hz)

    def __call__(
        self,
        logits: Tensor,
        targets: Tensor,
        *,
        mask: Tensor | None = None,
        step: int = 0,
        softness_frames: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """Scalar loss and a dict of float parts for logging.

        Parameters
        ----------
        logits : torch.Tensor [shape=(batch, frames, classes)]
            Raw pre-sigmoid outputs.
        targets : torch.Tensor [shape=(batch, frames, classes)], values in {0, 1} (or counts)
        mask : torch.Tensor [shape=(batch, frames)], bool, optional
            True on real frames.
        step : int >= 0
            Training step, for the alpha and softness schedules.
        softness_frames : torch.Tensor [shape=(batch,)], optional
            Per-sequence softness in frames; replaces the softness schedule.

        Returns
        -------
        loss : torch.Tensor [shape=()]
            Mean over sequences and classes of the per-(sequence, class) loss.
        parts : dict[str, float]
            ``loss`` plus the loss's own terms (e.g. ``sll``, ``mc``, ``alpha``, ``softness_frames``).
        """
        _check_same_shape(logits, targets)
        if mask is not None and mask.shape != logits.shape[:2]:
            raise ValueError(f"mask has shape {tuple(mask.shape)}; expected (batch, frames) = {tuple(logits.shape[:2])}")
        dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=logits.device.type, enabled=False):
            loss, parts = self.forward(
                logits.to(dtype), targets.to(dtype), mask=mask, step=step, softness_frames=softness_frames
            )
        return loss, {"loss": float(loss.detach()), **parts}

    def forward(
        self, logits: Tensor, targets: Tensor, *, mask: Tensor | None, step: int, softness_frames: Tensor | None
    ) -> tuple[Tensor, dict[str, float]]:
        raise NotImplementedError


class SoftLocLoss(Loss):
    """``(1 - alpha) * sll_weight * L_SLL + alpha * L_MC`` (Eq. 4), alpha from the schedule."""

    name = "softloc"

    def alpha_at(self, step: int) -> float:
        return self.config.alpha()(step)

    def softness_frames_at(self, step: int) -> float:
        return self.config.softness(frame_rate_hz=self.frame_rate_hz)(step)

    def forward(self, logits, targets, *, mask, step, softness_frames):
        alpha = self.alpha_at(step)
        parts: dict[str, float] = {"alpha": alpha}
        loss = logits.new_zeros(())
        if self.config.softloc_widen_frames:
            targets = widen_targets(targets.clamp(0, 1), self.config.softloc_widen_frames) * _frame_mask(mask, targets)
        if alpha < 1:
            if softness_frames is None:
                softness_frames = torch.tensor(self.softness_frames_at(step), dtype=logits.dtype)
            softness_frames = torch.as_tensor(softness_frames, dtype=logits.dtype, device=logits.device)
            sll = sll_loss(
                torch.sigmoid(logits), targets, softness_frames, mask=mask, measure=self.config.measure
            ).mean()
            loss = loss + (1 - alpha) * self.config.sll_weight * sll
            parts.update(sll=float(sll.detach()), softness_frames=float(softness_frames.mean()))
        if alpha > 0:
            counts = (targets * _frame_mask(mask, targets)).sum(1)
            mc = count_nll_from_logits(logits, counts, mask=mask).mean()
            loss = loss + alpha * mc
            parts.update(mc=float(mc.detach()))
        return loss, parts


class SLLLoss(SoftLocLoss):
    """L_SLL alone (alpha = 0)."""

    name = "sll"

    def alpha_at(self, step: int) -> float:
        return 0.0


class MCLoss(SoftLocLoss):
    """L_MC alone (alpha = 1): weakly supervised count learning."""

    name = "mc"

    def alpha_at(self, step: int) -> float:
        return 1.0


def widen_targets(targets: Tensor, width: int) -> Tensor:
    """0/1 targets ``(batch, frames, classes)`` with every 1 spread to +-``width`` frames."""
    if width == 0:
        return targets
    widened = F.max_pool1d(targets.transpose(1, 2), 2 * width + 1, stride=1, padding=width)
    return widened.transpose(1, 2)


class BCELoss(Loss):
    """Frame-wise binary cross-entropy, summed over frames; targets optionally widened."""

    name = "bce"

    def bce_targets(self, logits: Tensor, targets: Tensor) -> Tensor:
        return widen_targets(targets.clamp(0, 1), self.config.bce_widen_frames)

    def forward(self, logits, targets, *, mask, step, softness_frames):
        frame_mask = _frame_mask(mask, targets)
        soft_targets = self.bce_targets(logits, targets * frame_mask)
        pos_weight = torch.tensor(self.config.bce_pos_weight, dtype=logits.dtype, device=logits.device)
        per_frame = F.binary_cross_entropy_with_logits(logits, soft_targets, pos_weight=pos_weight, reduction="none")
        bce = (per_frame * frame_mask).sum(1).mean()
        return bce, {"bce": float(bce.detach())}


class SmoothedLoss(BCELoss):
    """Target smearing: BCE against labels widened by a peak-1 Gaussian (capped at 1)."""

    name = "smoothed"

    def bce_targets(self, logits, targets):
        sigma_frames = self.config.smoothed_sigma_s * self.frame_rate_hz
        return gaussian_smooth(targets.clamp(0, 1), sigma_frames, normalise="peak").clamp(0, 1)


class BootstrapLoss(BCELoss):
    """Soft bootstrapping (Reed et al. 2014): target ``beta * y + (1 - beta) * p.detach()``."""

    name = "bootstrap"

    def bce_targets(self, logits, targets):
        beta = self.config.bootstrap_beta
        return beta * targets.clamp(0, 1) + (1 - beta) * torch.sigmoid(logits).detach()


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (SoftLocLoss, SLLLoss, MCLoss, BCELoss, SmoothedLoss, BootstrapLoss)
}


def target_width(loss: dict[str, Any]) -> int:
    """Frames either side of a label that a model trained with this loss (``config.json``'s
    ``loss``) learnt to fire on: its output convention, which fine-tuning keeps."""
    kind = LOSSES.get(loss.get("name", "softloc"))
    if kind is not None and issubclass(kind, SoftLocLoss):  # softloc, sll, mc
        return int(loss.get("softloc_widen_frames") or 0)
    return int(loss.get("bce_widen_frames") or 0) if kind is BCELoss else 0  # smoothed / bootstrap: soft targets


def loss_names() -> list[str]:
    """Registry keys accepted by ``LossConfig.name``."""
    return list(LOSSES)


def build_loss(config: LossConfig, *, frame_rate_hz: float) -> Loss:
    """The loss named by ``config.name``.

    Raises
    ------
    ConfigError
        If the name is unknown (the valid names are listed) or ``frame_rate_hz <= 0``.

    Examples
    --------
    >>> loss = build_loss(LossConfig(name="bce"), frame_rate_hz=100.0)
    >>> round(loss(torch.zeros(2, 10, 3), torch.zeros(2, 10, 3))[1]["bce"], 4)  # 10 frames * log 2
    6.9315
    """
    if config.name not in LOSSES:
        raise ConfigError(f"loss {config.name!r} is unknown; available losses = {loss_names()}")
    return LOSSES[config.name](config, frame_rate_hz=frame_rate_hz)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _check_same_shape(a: Tensor, b: Tensor) -> None:
    if a.dim() != 3 or a.shape != b.shape:
        raise ValueError(
            f"expected two tensors of equal shape (batch, frames, classes); got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def _frame_mask(mask: Tensor | None, like: Tensor) -> Tensor:
    """``(batch, frames, 1)`` float mask (all ones when ``mask`` is None)."""
    if mask is None:
        return like.new_ones(like.shape[0], like.shape[1], 1)
    if mask.shape != like.shape[:2]:
        raise ValueError(f"mask has shape {tuple(mask.shape)}; expected (batch, frames) = {tuple(like.shape[:2])}")
    return mask.to(device=like.device, dtype=like.dtype)[..., None]


def _upcast(values: Tensor) -> Tensor:
    """float16 / bfloat16 -> float32 (FFTs and long sums need it); other dtypes unchanged."""
    return values.float() if values.dtype in (torch.float16, torch.bfloat16) else values


def _fast_len(n: int) -> int:
    """Smallest ``2**a * 3**b * 5**c >= n`` (fast FFT sizes)."""
    best = 1 << max(n - 1, 0).bit_length()
    power5 = 1
    while power5 < best:
        power3 = power5
        while power3 < best:
            size = power3
            while size < n:
                size *= 2
            best = min(best, size)
            power3 *= 3
        power5 *= 5
    return best


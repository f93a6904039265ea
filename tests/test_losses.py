"""Tests for softloc_cli.losses: exactness of L_MC, properties of L_SLL, masks, registry, config."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import pytest
import torch
import torch.nn.functional as F

from softloc_cli.errors import ConfigError
from softloc_cli.losses import (
    LOSSES,
    LossConfig,
    Schedule,
    build_loss,
    count_nll,
    count_nll_from_logits,
    gaussian_smooth,
    log_probabilities,
    loss_names,
    sll_loss,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tests use many small tensors; on a shared 2-core machine, intra-op threads only add
    contention (seconds instead of milliseconds). Restore the setting afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ----------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------


def brute_force_nll(probs: list[float], count: int) -> float:
    """-log P(N = count) by enumerating every subset of frames."""
    total = 0.0
    for fired in itertools.product((0, 1), repeat=len(probs)):
        if sum(fired) == count:
            total += math.prod(p if f else 1 - p for f, p in zip(fired, probs))
    return -math.log(total)


def loop_count_nll(probs: torch.Tensor, counts: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The authors' form: a Python loop over frames in probability space, states 0..k_max.

    probs (B, T, C), counts (B, C) -> (B, C). No epsilon: use float64 and short sequences.
    """
    batch, n_frames, n_classes = probs.shape
    if mask is not None:
        probs = probs * mask[..., None]
    p = probs.transpose(1, 2).reshape(batch * n_classes, n_frames)
    states = torch.zeros(batch * n_classes, int(counts.max()) + 1, dtype=probs.dtype)
    states[:, 0] = 1
    for t in range(n_frames):
        p_t = p[:, t : t + 1]
        shifted = torch.cat([torch.zeros_like(states[:, :1]), states[:, :-1]], 1)
        states = (1 - p_t) * states + p_t * shifted
    return -torch.log(states.gather(1, counts.reshape(-1, 1).long())).reshape(batch, n_classes)


def mc_from_logits(logits: torch.Tensor, counts: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    return count_nll_from_logits(logits, counts, mask=mask)


def impulse(n_frames: int, *frames: int, value: float = 1.0) -> torch.Tensor:
    y = torch.zeros(1, n_frames, 1, dtype=torch.float64)
    for frame in frames:
        y[0, frame, 0] = value
    return y


# ----------------------------------------------------------------------------------------------
# L_MC
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_frames", [1, 2, 5, 8, 12])
def test_count_nll_equals_brute_force_enumeration(n_frames):
    generator = torch.Generator().manual_seed(n_frames)
    probs = torch.rand(1, n_frames, 1, generator=generator, dtype=torch.float64) * 0.98 + 0.01
    for count in range(n_frames + 1):
        got = count_nll(*log_probabilities(probs), torch.tensor([[count]]))
        expected = brute_force_nll(probs[0, :, 0].tolist(), count)
        assert float(got) == pytest.approx(expected, rel=1e-11, abs=1e-12)


@pytest.mark.parametrize(("n_frames", "k_max"), [(40, 10), (300, 60), (301, 150)])
def test_count_nll_matches_probability_loop_with_gradients(n_frames, k_max):
    """Long enough that the FFT levels of the product tree are used."""
    generator = torch.Generator().manual_seed(n_frames)
    logits = (torch.randn(3, n_frames, 2, generator=generator, dtype=torch.float64) * 2 - 1).requires_grad_()
    counts = torch.randint(0, k_max + 1, (3, 2), generator=generator)
    counts[0, 0], counts[0, 1] = 0, k_max
    ours = mc_from_logits(logits, counts)
    (grad_ours,) = torch.autograd.grad(ours.sum(), logits)
    reference = loop_count_nll(torch.sigmoid(logits), counts)
    (grad_reference,) = torch.autograd.grad(reference.sum(), logits)
    torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad_ours, grad_reference, rtol=1e-9, atol=1e-12)
    from_log_probabilities = count_nll(F.logsigmoid(logits), F.logsigmoid(-logits), counts)
    (grad_log,) = torch.autograd.grad(from_log_probabilities.sum(), logits)
    torch.testing.assert_close(from_log_probabilities, reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad_log, grad_reference, rtol=1e-9, atol=1e-12)


def test_count_nll_float32_agrees_with_float64():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3000, 2, generator=generator, dtype=torch.float64) - 5
    counts = torch.tensor([[0, 7], [120, 60]])
    single = mc_from_logits(logits.float(), counts).double()
    double = mc_from_logits(logits, counts)
    torch.testing.assert_close(single, double, rtol=1e-4, atol=1e-3)


def test_count_nll_gradcheck():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 9, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    counts = torch.tensor([[0, 3], [9, 5]])
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 7:] = False
    counts_masked = torch.tensor([[0, 3], [7, 5]])
    assert torch.autograd.gradcheck(lambda x: mc_from_logits(x, counts), (logits,))
    assert torch.autograd.gradcheck(lambda x: mc_from_logits(x, counts_masked, mask), (logits,))


def test_count_nll_gradient_is_probability_minus_posterior():
    """d(-log P(N=k))/dx_t = p_t - P(B_t = 1 | N = k); the posterior sums to k."""
    logits = torch.randn(1, 10, 1, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(mc_from_logits(logits, torch.tensor([[4]])).sum(), logits)
    posterior = torch.sigmoid(logits.detach()) - grad
    assert float(posterior.sum()) == pytest.approx(4.0, abs=1e-10)
    assert bool(((posterior >= 0) & (posterior <= 1)).all())


def test_count_nll_is_zero_for_a_certain_count():
    probs = impulse(20, 3, 11, 12)
    nll = count_nll(*log_probabilities(probs), torch.tensor([[3]]))
    assert float(nll) == pytest.approx(0.0, abs=1e-12)


def test_count_nll_extremes_stay_finite():
    """100,000 frames, counts up to 1,000, probabilities of exactly 0 and 1."""
    generator = torch.Generator().manual_seed(2)
    n_frames = 100_000
    probs = torch.rand(2, n_frames, 2, generator=generator) * 1e-3
    probs[0, :500, 0] = 1.0  # 500 certain events, but 1,000 labelled
    probs[0, :, 1] = 0.0  # no event possible, 1,000 labelled
    probs[1, ::100, 0] = 1.0  # 1,000 certain events, none labelled
    probs.requires_grad_()
    counts = torch.tensor([[1000, 1000], [0, 999]])
    nll = count_nll(*log_probabilities(probs), counts)
    nll.sum().backward()
    assert bool(torch.isfinite(nll).all()), nll
    assert bool(torch.isfinite(probs.grad).all())
    assert float(nll.detach().min()) > 0
    logits = torch.where(probs.detach() > 0.5, 1e4, -1e4).requires_grad_()
    nll = mc_from_logits(logits, counts)
    nll.sum().backward()
    assert bool(torch.isfinite(nll).all()) and bool(torch.isfinite(logits.grad).all())


def test_count_nll_long_sequence_matches_loop_in_float64():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(1, 4000, 1, generator=generator, dtype=torch.float64) * 3 - 6
    counts = torch.tensor([[160]])
    torch.testing.assert_close(
        mc_from_logits(logits, counts), loop_count_nll(torch.sigmoid(logits), counts), rtol=1e-9, atol=1e-9
    )


def test_count_nll_padded_batch_equals_each_sequence():
    generator = torch.Generator().manual_seed(4)
    lengths, n_classes = [50, 23, 1], 3
    logits = torch.randn(3, 50, n_classes, generator=generator, dtype=torch.float64)
    mask = torch.arange(50)[None, :] < torch.tensor(lengths)[:, None]
    counts = torch.tensor([[0, 5, 50], [2, 23, 9], [1, 0, 1]])
    batched = mc_from_logits(logits, counts, mask)
    for i, length in enumerate(lengths):
        single = mc_from_logits(logits[i : i + 1, :length], counts[i : i + 1].clamp(max=length))
        torch.testing.assert_close(batched[i : i + 1], single, rtol=1e-12, atol=1e-12)


def test_count_nll_rejects_wrong_counts_shape():
    probs = torch.full((2, 5, 3), 0.5)
    with pytest.raises(ValueError, match=r"counts has shape \(2,\); expected \(batch, classes\)"):
        count_nll(*log_probabilities(probs), torch.tensor([1, 2]))


# ----------------------------------------------------------------------------------------------
# L_SLL
# ----------------------------------------------------------------------------------------------


def test_gaussian_kernel_keeps_mass_and_peak():
    y = impulse(100, 50)
    smoothed = gaussian_smooth(y, 4.0)
    assert float(smoothed.sum()) == pytest.approx(1.0, abs=1e-12)
    assert int(smoothed[0, :, 0].argmax()) == 50
    assert float(gaussian_smooth(y, 4.0, normalise="peak").max()) == pytest.approx(1.0)
    assert abs(float(smoothed[0, 50 + 17, 0])) < 1e-15 < float(smoothed[0, 50 + 16, 0])  # cut at ceil(4 sigma)


def test_sll_labels_are_a_minimiser():
    targets = impulse(200, 20, 21, 90, 150)
    for measure in ("mse", "log"):
        probs = targets.clone().requires_grad_()
        loss = sll_loss(probs, targets, 5.0, measure=measure).sum()
        (grad,) = torch.autograd.grad(loss, probs)
        assert float(loss.detach()) == 0.0
        assert float(grad.abs().max()) == 0.0
        perturbed = (targets + 0.05 * torch.rand_like(targets)).clamp(0, 1)
        assert float(sll_loss(perturbed, targets, 5.0, measure=measure).sum()) > 0.0


def test_sll_grows_smoothly_with_shift_while_bce_jumps():
    targets = impulse(100, 50)
    sll, bce = [], []
    for shift in range(7):
        probs = impulse(100, 50 + shift, value=0.99).clamp_min(0.01)
        sll.append(float(sll_loss(probs, targets, 4.0).sum()))
        bce.append(float(F.binary_cross_entropy(probs, targets, reduction="sum")))
    steps = [b - a for a, b in zip(sll, sll[1:])]
    assert all(step > 0 for step in steps), sll
    assert max(steps) < 0.25 * sll[-1]  # no single shift makes most of the loss
    assert bce[1] > 10 * bce[0]  # a one-frame miss already costs ...
    assert bce[1] == pytest.approx(bce[6])  # ... as much as a six-frame miss


def test_sll_log_measure_tends_to_summed_bce():
    """Eq. 5: with softness -> 0, -log(1 - |d|) is the summed cross-entropy."""
    generator = torch.Generator().manual_seed(5)
    probs = torch.rand(2, 60, 3, generator=generator, dtype=torch.float64) * 0.98 + 0.01
    targets = (torch.rand(2, 60, 3, generator=generator) < 0.2).double()
    bce = F.binary_cross_entropy(probs, targets, reduction="none").sum(1)
    torch.testing.assert_close(sll_loss(probs, targets, 0.0, measure="log"), bce, rtol=1e-12, atol=1e-12)
    gaps = [float((sll_loss(probs, targets, s, measure="log") - bce).abs().max()) for s in (0.5, 0.25, 0.1)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-12


def test_sll_gradcheck_with_per_sequence_softness_and_mask():
    generator = torch.Generator().manual_seed(6)
    probs = (torch.rand(2, 16, 2, generator=generator, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    targets = (torch.rand(2, 16, 2, generator=generator) < 0.15).double()
    softness = torch.tensor([1.5, 3.0], dtype=torch.float64)
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask[1, 12:] = False
    for measure in ("mse", "log"):
        assert torch.autograd.gradcheck(
            lambda p: sll_loss(p, targets, softness, mask=mask, measure=measure), (probs,)
        )


def test_sll_padded_batch_equals_each_sequence():
    generator = torch.Generator().manual_seed(7)
    lengths = [80, 37]
    probs = torch.rand(2, 80, 3, generator=generator, dtype=torch.float64)
    targets = (torch.rand(2, 80, 3, generator=generator) < 0.1).double()
    softness = torch.tensor([2.0, 5.5], dtype=torch.float64)
    mask = torch.arange(80)[None, :] < torch.tensor(lengths)[:, None]
    batched = sll_loss(probs, targets, softness, mask=mask)
    for i, length in enumerate(lengths):
        single = sll_loss(probs[i : i + 1, :length], targets[i : i + 1, :length], softness[i : i + 1])
        torch.testing.assert_close(batched[i : i + 1], single, rtol=1e-12, atol=1e-12)


def test_sll_extremes_stay_finite():
    probs = torch.zeros(1, 100_000, 2)
    probs[0, ::7, 0] = 1.0
    targets = torch.zeros(1, 100_000, 2)
    targets[0, ::11, 1] = 1.0
    probs.requires_grad_()
    for measure in ("mse", "log"):
        for softness in (0.0, 8.0):
            loss = sll_loss(probs, targets, softness, measure=measure).sum()
            (grad,) = torch.autograd.grad(loss, probs)
            assert math.isfinite(float(loss.detach())) and bool(torch.isfinite(grad).all())


def test_sll_rejects_unknown_measure_and_shape_mismatch():
    y = torch.zeros(1, 10, 2)
    with pytest.raises(ValueError, match="measure='l1' is unknown"):
        sll_loss(y, y, 1.0, measure="l1")
    with pytest.raises(ValueError, match=r"got \(1, 10, 2\) and \(1, 10, 3\)"):
        sll_loss(y, torch.zeros(1, 10, 3), 1.0)
    with pytest.raises(ValueError, match=r"softness_frames has shape \(2,\); expected \(\) or \(batch,\) = \(1,\)"):
        sll_loss(y, y, torch.tensor([1.0, 2.0]))


# ----------------------------------------------------------------------------------------------
# Loss objects, registry, schedules, config
# ----------------------------------------------------------------------------------------------


def small_batch(n_classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, 64, n_classes, generator=generator) - 3
    targets = (torch.rand(4, 64, n_classes, generator=generator) < 0.05).float()
    mask = torch.arange(64)[None, :] < torch.tensor([64, 50, 64, 10])[:, None]
    return logits, targets * mask[..., None], mask


def test_registry_names():
    assert loss_names() == ["softloc", "sll", "mc", "bce", "smoothed", "bootstrap"]
    assert set(LOSSES) == set(loss_names())


@pytest.mark.parametrize("name", loss_names())
def test_every_loss_runs_forward_and_backward(name):
    logits, targets, mask = small_batch()
    logits.requires_grad_()
    loss_fn = build_loss(LossConfig(name=name), frame_rate_hz=100.0)
    loss, parts = loss_fn(logits, targets, mask=mask, step=3000)
    loss.backward()
    value = float(loss.detach())
    assert loss.shape == () and math.isfinite(value) and parts["loss"] == pytest.approx(value)
    assert bool(torch.isfinite(logits.grad).all()) and float(logits.grad.abs().sum()) > 0
    assert float(logits.grad[3, 10:].abs().max()) == 0.0  # padded frames get no gradient
    expected = {"softloc": {"sll", "mc", "alpha"}, "sll": {"sll"}, "mc": {"mc"}}.get(name, {"bce"})
    assert expected <= set(parts)


@pytest.mark.parametrize("name", loss_names())
def test_every_loss_padded_batch_equals_mean_of_sequences(name):
    logits, targets, mask = small_batch(seed=1)
    loss_fn = build_loss(LossConfig(name=name, bce_widen_frames=1, softloc_widen_frames=1), frame_rate_hz=100.0)
    batched, _ = loss_fn(logits, targets, mask=mask, step=2000)
    singles = []
    for i, length in enumerate(mask.sum(1).tolist()):
        singles.append(loss_fn(logits[i : i + 1, :length], targets[i : i + 1, :length], step=2000)[0])
    assert float(batched) == pytest.approx(float(torch.stack(singles).mean()), rel=1e-5)


def test_softloc_mixes_its_terms_with_alpha():
    logits, targets, mask = small_batch(seed=2)
    config = LossConfig(alpha_schedule="constant", alpha_start=0.3, softness_s=0.05, sll_weight=2.0)
    loss, parts = build_loss(config, frame_rate_hz=100.0)(logits, targets, mask=mask)
    assert parts["alpha"] == 0.3 and parts["softness_frames"] == pytest.approx(5.0)
    assert float(loss) == pytest.approx(0.7 * 2.0 * parts["sll"] + 0.3 * parts["mc"], rel=1e-6)


def test_eq5_limit_through_the_registry():
    """sll with the log measure and softness 0 is the bce baseline (same reduction)."""
    logits, targets, mask = small_batch(seed=3)
    logits = logits.double().clamp(-8, 8)
    sll, _ = build_loss(LossConfig(name="sll", measure="log", softness_s=0.0), frame_rate_hz=100.0)(
        logits, targets, mask=mask
    )
    bce, _ = build_loss(LossConfig(name="bce"), frame_rate_hz=100.0)(logits, targets, mask=mask)
    assert float(sll) == pytest.approx(float(bce), rel=1e-9)


def test_per_sequence_softness_overrides_the_schedule():
    logits, targets, mask = small_batch(seed=4)
    loss_fn = build_loss(LossConfig(name="sll"), frame_rate_hz=100.0)
    default, parts = loss_fn(logits, targets, mask=mask)
    override, parts_override = loss_fn(logits, targets, mask=mask, softness_frames=torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert parts["softness_frames"] == pytest.approx(8.0) and parts_override["softness_frames"] == 2.5
    assert float(default) != pytest.approx(float(override))


def test_loss_under_autocast_is_float32_and_matches():
    logits, targets, mask = small_batch(seed=5)
    loss_fn = build_loss(LossConfig(), frame_rate_hz=100.0)
    plain, _ = loss_fn(logits, targets, mask=mask, step=4000)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast, _ = loss_fn(logits.bfloat16(), targets, mask=mask, step=4000)
    assert autocast.dtype == torch.float32
    assert float(autocast) == pytest.approx(float(plain), rel=2e-2)


def test_bce_baselines_targets():
    targets = impulse(20, 10).float()
    logits = torch.zeros(1, 20, 1)
    config = LossConfig(name="bce", bce_widen_frames=1)
    assert build_loss(config, frame_rate_hz=100.0).bce_targets(logits, targets)[0, 8:13, 0].tolist() == [0, 1, 1, 1, 0]
    smoothed = build_loss(LossConfig(name="smoothed", smoothed_sigma_s=0.02), frame_rate_hz=100.0)
    widened = smoothed.bce_targets(logits, targets)[0, :, 0]
    assert float(widened[10]) == pytest.approx(1.0) and float(widened[12]) == pytest.approx(math.exp(-0.5))
    bootstrap = build_loss(LossConfig(name="bootstrap", bootstrap_beta=0.95), frame_rate_hz=100.0)
    mixed = bootstrap.bce_targets(logits, targets)[0, :, 0]
    assert float(mixed[10]) == pytest.approx(0.95 + 0.05 * 0.5) and float(mixed[0]) == pytest.approx(0.025)


def test_softloc_widened_targets_keep_a_bce_models_plateau():
    """A BCE model trained on +-1-frame targets fires three frames near 1 per hit: SoftLoc with the
    same widening accepts that shape, plain SoftLoc (mass one per hit) pushes it down."""
    targets = impulse(40, 20).float()
    plateau = torch.full((1, 40, 1), -6.0)
    plateau[0, 19:22, 0] = 6.0
    single = torch.full((1, 40, 1), -6.0)
    single[0, 20, 0] = 6.0
    config = LossConfig(alpha_schedule="constant", alpha_start=0.9, softness_s=0.02, sll_weight=32.0)
    plain = build_loss(config, frame_rate_hz=100.0)
    widened = build_loss(LossConfig(**{**config.__dict__, "softloc_widen_frames": 1}), frame_rate_hz=100.0)
    assert float(widened(plateau, targets)[0]) < 0.2 < 5.0 < float(plain(plateau, targets)[0])
    assert float(plain(single, targets)[0]) < 0.2 < 5.0 < float(widened(single, targets)[0])
    with pytest.raises(ConfigError):
        LossConfig(softloc_widen_frames=-1)


def test_alpha_schedules():
    ramp = Schedule("ramp", start=0.2, end=0.9, ramp_start=100_000, ramp_steps=100_000)  # the paper's piano ramp
    assert [ramp(s) for s in (0, 100_000, 120_000, 150_000, 190_000, 400_000)] == pytest.approx(
        [0.2, 0.2, 0.2, 0.5, 0.9, 0.9]
    )
    linear = Schedule("linear", start=0.2, end=0.9, ramp_start=1000, ramp_steps=1000)
    assert [linear(s) for s in (0, 1000, 1500, 2000, 5000)] == pytest.approx([0.2, 0.2, 0.55, 0.9, 0.9])
    assert Schedule("constant", start=0.4, end=0.9)(10**6) == 0.4
    default = LossConfig().alpha()
    assert default(0) == pytest.approx(0.2) and default(4500) == pytest.approx(0.9)
    with pytest.raises(ConfigError, match="schedule kind 'cosine' is unknown"):
        Schedule("cosine", start=0.0, end=1.0)


def test_softness_schedule_narrows():
    config = LossConfig(softness_s=0.05, softness_end_s=0.01, softness_ramp_start=100, softness_ramp_steps=400)
    schedule = config.softness(frame_rate_hz=100.0)
    assert [schedule(s) for s in (0, 100, 300, 500, 10_000)] == pytest.approx([5.0, 5.0, 3.0, 1.0, 1.0])
    loss_fn = build_loss(config, frame_rate_hz=100.0)
    logits, targets, mask = small_batch(seed=6)
    assert loss_fn(logits, targets, mask=mask, step=300)[1]["softness_frames"] == pytest.approx(3.0)


def test_config_round_trips_through_json():
    config = LossConfig(name="smoothed", softness_end_s=0.02, alpha_schedule="linear", bce_widen_frames=1)
    loaded = LossConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(config))))
    assert loaded == config


def test_config_rejects_unknown_keys_types_and_values():
    with pytest.raises(ConfigError, match="unknown key.*softnes_s.*valid keys are"):
        LossConfig.from_dict({"softnes_s": 0.05})
    with pytest.raises(ConfigError, match="alpha_ramp_steps: expected an integer"):
        LossConfig.from_dict({"alpha_ramp_steps": "100"})
    with pytest.raises(ConfigError, match=r"loss 'focal' is unknown; available losses = \['softloc'"):
        LossConfig.from_dict({"name": "focal"})
    with pytest.raises(ConfigError, match="measure='l2' is unknown"):
        LossConfig(measure="l2")
    with pytest.raises(ConfigError, match=r"softness_s=80.0 must be >= 0 seconds \(did you give milliseconds\?\)"):
        LossConfig(softness_s=80.0)
    with pytest.raises(ConfigError, match="alpha_end=1.5 must lie in"):
        LossConfig(alpha_end=1.5)
    with pytest.raises(ConfigError, match="frame_rate_hz=0 must be > 0"):
        build_loss(LossConfig(), frame_rate_hz=0)


def test_loss_rejects_mismatched_shapes():
    loss_fn = build_loss(LossConfig(), frame_rate_hz=100.0)
    with pytest.raises(ValueError, match=r"mask has shape \(2, 5\); expected \(batch, frames\) = \(2, 6\)"):
        loss_fn(torch.zeros(2, 6, 3), torch.zeros(2, 6, 3), mask=torch.ones(2, 5, dtype=torch.bool))

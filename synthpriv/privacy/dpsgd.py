"""DP-SGD for the generators: Poisson sampling, noise calibration, and one private optimizer.

DP-SGD (Abadi et al., 2016) clips each row's gradient to ``max_grad_norm`` and adds Gaussian
noise of ``noise_multiplier * max_grad_norm`` to their sum before each optimizer step. Its
guarantee, as the accountants (RDP: Mironov, 2017; PRV: Gopi et al., 2021) compute it, rests
on three facts this module keeps true:

- every step sees a Poisson sample of the rows (each row in independently with probability
  ``q``), so batch sizes vary and a batch may be empty; an empty batch is still a step: the
  accountant counts it, so it must release its noise like any other (`poisson_batches`);
- the summed clipped gradients are divided by the *expected* batch size ``q * rows``, never
  the drawn one, which would depend on the data;
- the accountant counts exactly the noisy steps taken (`PrivateTraining` counts them in the
  optimizer's own step hook, so a GAN critic taking several steps per batch counts each).

The noise multiplier is chosen before training so that the planned steps reach the target
epsilon (`calibrate`), and a budget that cannot train at all fails then, before any row is read
by the model. Opacus (imported lazily: a non-private fit never pays for it) supplies the
accountants, the noise calibration and the noisy optimizer; the per-row clipping is done here,
for Linear layers, at close to the cost of a plain step (see `PrivateTraining` for why).
"""

from __future__ import annotations

import math
import secrets
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from synthpriv.errors import PrivacyConfigError
from synthpriv.privacy.ledger import Release

if TYPE_CHECKING:
    from opacus.optimizers import DPOptimizerFastGradientClipping

#: The mechanism name recorded in the ledger for DP-SGD releases.
MECHANISM = "subsampled gaussian (DP-SGD)"

#: RDP orders searched when converting to (epsilon, delta): Opacus' defaults (up to 63) and a
#: few larger ones, which give tighter bounds at small epsilon or large noise. Every order is a
#: valid bound, so more orders can only tighten the result.
RDP_ORDERS: tuple[float, ...] = (
    *(1 + x / 10.0 for x in range(1, 100)),
    *range(12, 64),
    *(80, 96, 128, 192, 256, 512, 1024),
)

#: The calibrated noise reaches the target epsilon within this share of it (from below).
EPSILON_TOLERANCE = 0.005


@dataclass(frozen=True)
class DPSGDSettings:
    """What the DP-SGD part of a fit may spend, and how it clips and accounts."""

    epsilon: float
    delta: float
    max_grad_norm: float = 1.0
    accountant: Literal["rdp", "prv"] = "rdp"
    training_seed: int | None = None
    """Seeds the Poisson batches and the noise. Both must be secret for the guarantee to hold
    (amplification by subsampling assumes nobody knows which rows each step used), so None,
    the default, draws fresh OS entropy; a fixed seed makes a DP fit reproducible (tests) and
    is private only while it stays secret. The pipeline's seed is printed in its manifest."""
    total_epsilon: float | None = None
    """The run's whole budget when ``epsilon`` is only DP-SGD's share of it; for error messages."""
    secure_mode: bool = False
    """Opacus' secure mode (``train.privacy.secure_mode``): noise robust to floating-point
    attacks and a cryptographic generator (`secure_generator`) for the noise and the batches.
    Needs the ``torchcsprng`` package and no ``training_seed``."""

    def describe_budget(self) -> str:
        """How an error names this budget: the share and the total the user wrote, when they differ."""
        if self.total_epsilon is None or math.isclose(self.total_epsilon, self.epsilon):
            return f"epsilon {self.epsilon:g}"
        return f"epsilon {self.total_epsilon:g} (DP-SGD's share after preprocessing: {self.epsilon:.3g})"

    def secret_seed(self) -> int:
        """``training_seed``, or a fresh one from OS entropy."""
        return self.training_seed if self.training_seed is not None else secrets.randbits(62)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise PrivacyConfigError("epsilon must be a finite number > 0", where="train.privacy.epsilon")
        if not 0 < self.delta < 1:
            raise PrivacyConfigError("delta must be in (0, 1) for DP-SGD", where="train.privacy.delta")
        if not (math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise PrivacyConfigError(
                "max_grad_norm must be a finite number > 0", where="train.privacy.max_grad_norm"
            )
        if self.accountant not in ("rdp", "prv"):
            raise PrivacyConfigError("accountant must be rdp or prv", where="train.privacy.accountant")
        if self.secure_mode:
            if self.training_seed is not None:
                raise PrivacyConfigError(
                    "secure mode draws from a cryptographic generator, which cannot be seeded",
                    where="train.privacy.secure_mode",
                )
            secure_generator()  # refuses now, before any row is read, when torchcsprng is missing


def secure_generator() -> torch.Generator:
    """A cryptographic generator reading /dev/urandom (``torchcsprng``, as Opacus' secure mode).

    PrivacyConfigError naming the package when it is not installed (it is not on PyPI for every
    Python and torch version)."""
    try:
        import torchcsprng as csprng
    except ImportError:
        raise PrivacyConfigError(
            "secure mode needs the torchcsprng package (a cryptographic random generator for torch), "
            "which is not installed; install it or set secure_mode: false",
            where="train.privacy.secure_mode",
        ) from None
    generator: torch.Generator = csprng.create_random_device_generator("/dev/urandom")
    return generator


# -- Poisson sampling ---------------------------------------------------------------------


def sample_rate(rows: int, batch_size: int) -> float:
    """The Poisson rate ``q`` that gives batches of ``batch_size`` rows on average (at most 1)."""
    if rows < 1 or batch_size < 1:
        raise ValueError("rows and batch_size must be >= 1")
    return min(1.0, batch_size / rows)


def steps_per_epoch(rows: int, batch_size: int) -> int:
    """Poisson steps in one epoch: ``round(1 / q)``, so an epoch sees each row once on average."""
    return max(1, round(1.0 / sample_rate(rows, batch_size)))


def poisson_batches(rows: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """One epoch of Poisson batches (a `BatchSampler` for `synthpriv.training.loop.train`).

    Each of the `steps_per_epoch` batches holds every row independently with probability
    ``q = batch_size / rows``; sizes vary and batches may be empty. The caller must take a
    (noise-only) step on an empty batch too: the accountant counts it.
    """
    q = sample_rate(rows, batch_size)
    for _ in range(steps_per_epoch(rows, batch_size)):
        yield torch.nonzero(torch.rand(rows, generator=generator) < q).flatten()


# -- noise calibration --------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseCalibration:
    """The noise that makes ``steps`` Poisson steps of rate ``sample_rate`` spend ``settings.epsilon``."""

    settings: DPSGDSettings
    noise_multiplier: float
    sample_rate: float
    expected_batch_size: int
    steps: int
    epsilon: float
    """The accountant's epsilon after exactly ``steps`` steps (<= the target)."""


def calibrate(settings: DPSGDSettings, *, rows: int, batch_size: int, steps: int) -> NoiseCalibration:
    """The noise multiplier for ``steps`` steps of Poisson batches of ``batch_size`` of ``rows`` rows.

    PrivacyConfigError when no noise reaches the target, or only noise larger than any
    gradient it would hide: with ``noise_multiplier > expected batch size`` the noise on each
    coordinate of the averaged gradient exceeds the norm of the whole clipped gradient, so
    the model would learn nothing from the data (this refuses a budget that cannot train at all).
    """
    from opacus.accountants.utils import get_noise_multiplier

    if steps < 0:
        raise ValueError("steps must be >= 0")
    q = sample_rate(rows, batch_size)
    expected = max(1, round(q * rows))
    if steps == 0:  # nothing is released, whatever the noise
        return NoiseCalibration(settings, math.inf, q, expected, 0, 0.0)
    where = "train.privacy.epsilon"
    advice = "raise epsilon, or train on more rows or for fewer epochs"
    try:
        with warnings.catch_warnings():
            # "Optimal order is the largest alpha": expected while the search tries tiny noise.
            warnings.simplefilter("ignore", UserWarning)
            sigma = get_noise_multiplier(
                target_epsilon=settings.epsilon,
                target_delta=settings.delta,
                sample_rate=q,
                steps=steps,
                accountant=settings.accountant,
                epsilon_tolerance=EPSILON_TOLERANCE * settings.epsilon,
                **_epsilon_options(settings.accountant),
            )
    except ValueError:  # Opacus: no noise multiplier up to 1e6 reaches the target
        raise PrivacyConfigError(
            f"{settings.describe_budget()} cannot be reached by {steps:,} DP-SGD steps on {rows:,} rows "
            f"at any noise level; {advice}",
            where=where,
        ) from None
    if sigma > expected:
        raise PrivacyConfigError(
            f"{settings.describe_budget()} is too small to train: {steps:,} DP-SGD steps of "
            f"~{expected:,} rows would need noise multiplier {sigma:.3g}, more noise than signal in "
            f"every step; {advice}",
            where=where,
        )
    epsilon = epsilon_spent(settings, sigma, q, steps)
    return NoiseCalibration(settings, float(sigma), q, expected, steps, epsilon)


def epsilon_spent(settings: DPSGDSettings, noise_multiplier: float, rate: float, steps: int) -> float:
    """The accountant's epsilon (at ``settings.delta``) after ``steps`` steps of the given noise and rate."""
    from opacus.accountants import create_accountant

    if steps == 0:
        return 0.0
    if math.isinf(noise_multiplier):
        return 0.0
    accountant = create_accountant(mechanism=settings.accountant)
    accountant.history = [(noise_multiplier, rate, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # see `calibrate`
        return float(accountant.get_epsilon(delta=settings.delta, **_epsilon_options(settings.accountant)))


def _epsilon_options(accountant: str) -> dict[str, Any]:
    return {"alphas": list(RDP_ORDERS)} if accountant == "rdp" else {}


# -- private training ---------------------------------------------------------------------


class PrivateTraining:
    """The private part of one fit: per-row clipping, the noisy optimizer, the step count.

    A step is ``optimizer.zero_grad()``, the forward pass, `backward` instead of
    ``loss.backward()``, then ``optimizer.step()``. `backward` leaves in each parameter's
    ``.grad`` the *sum over rows of each row's gradient clipped* to ``max_grad_norm`` (the
    norm taken over all the optimizer's parameters jointly); the optimizer, Opacus'
    ``DPOptimizerFastGradientClipping``, adds the Gaussian noise from a seeded generator,
    divides by the expected batch size and steps the wrapped optimizer.

    Why not Opacus' ``GradSampleModule``: it materialises every row's gradient of every
    layer (``rows x out x in`` floats per layer), which made a VAE step on a 2-core CPU
    about 20 times slower than without DP. For a ``Linear`` layer ``y = x W^T + b`` the
    gradient of row ``i`` is the outer product ``g_i x_i^T`` of its output gradient and
    its input, so its norm is ``|g_i| |x_i|`` (Goodfellow, 2015; "ghost norms", Li et al.,
    2022) and the clipped sum ``sum_i c_i g_i x_i^T`` is one matrix product ("book-keeping",
    Bu et al., 2023). One backward pass to the layers' outputs (which skips the weight
    gradients) gives every ``g_i``; the cost is close to that of a plain step.

    Hence the requirements: every trained parameter belongs to an ``nn.Linear`` of
    ``modules`` (others are refused: a parameter that escaped clipping would break the
    guarantee), each such layer sees the batch once per step with row ``i`` of every layer
    coming from row ``i`` of the batch, and the loss is the *mean over the rows* of per-row
    losses, so that a row's loss depends on that row alone.
    """

    def __init__(
        self,
        calibration: NoiseCalibration,
        modules: Mapping[str, nn.Module],
        optimizer: torch.optim.Optimizer,
        *,
        seed: int,
    ) -> None:
        from opacus.accountants import create_accountant
        from opacus.optimizers import DPOptimizerFastGradientClipping

        layers = [layer for m in modules.values() for layer in m.modules() if isinstance(layer, nn.Linear)]
        in_layers = {id(p) for layer in layers for p in layer.parameters(recurse=False)}
        trained = [p for group in optimizer.param_groups for p in group["params"]]
        if any(id(p) not in in_layers for p in trained):
            raise ValueError(
                "every parameter of a private optimizer must belong to a Linear layer of its modules"
            )
        trained_ids = {id(p) for p in trained}
        self.calibration = calibration
        self.layers = [
            layer for layer in layers if any(id(p) in trained_ids for p in layer.parameters(recurse=False))
        ]
        self._params = trained
        self._captured: dict[nn.Linear, tuple[torch.Tensor, torch.Tensor]] = {}
        self._hooks = [layer.register_forward_hook(self._capture) for layer in self.layers]
        device = trained[0].device if trained else torch.device("cpu")
        # A seeded generator makes DP fits reproducible; secure mode (noise robust to
        # floating-point attacks, Mironov 2012) draws from a cryptographic one, never seeded.
        secure = calibration.settings.secure_mode
        noise = secure_generator() if secure else torch.Generator(device=device).manual_seed(seed % 2**63)
        self.optimizer: DPOptimizerFastGradientClipping = DPOptimizerFastGradientClipping(
            optimizer,
            noise_multiplier=calibration.noise_multiplier,
            max_grad_norm=calibration.settings.max_grad_norm,
            expected_batch_size=calibration.expected_batch_size,
            loss_reduction="mean",
            generator=noise,
            secure_mode=secure,
        )
        self.steps = 0
        self.accountant = create_accountant(mechanism=calibration.settings.accountant)
        # Counted in the optimizer's step hook, which runs once per noisy step and only then.
        self.optimizer.attach_step_hook(self._count)
        self._verdicts: dict[int, bool] = {}

    def _count(self, _optimizer: object) -> None:
        self.steps += 1
        self.accountant.step(
            noise_multiplier=self.calibration.noise_multiplier, sample_rate=self.calibration.sample_rate
        )

    def _capture(self, layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        # A pass that cannot give this layer a gradient is not a private step: evaluation, or
        # the layer frozen while another model learns through it (a GAN's generator step).
        if not (layer.training and torch.is_grad_enabled() and layer.weight.requires_grad):
            return
        assert isinstance(layer, nn.Linear)
        if layer in self._captured:
            raise RuntimeError(
                "a private Linear layer ran twice in one step; per-row clipping needs one pass"
            )
        if inputs[0].dim() != 2:
            raise RuntimeError("private Linear layers take [rows, features] inputs")
        self._captured[layer] = (inputs[0].detach(), output)

    def backward(self, loss: torch.Tensor) -> torch.Tensor:
        """Put the sum of the rows' clipped gradients in ``.grad``; return the rows' gradient norms.

        ``loss`` must be the mean over the batch's rows of per-row losses.
        """
        captured, self._captured = self._captured, {}
        if not captured:
            raise RuntimeError("no private layer ran forward since the last step")
        layers = list(captured)
        inputs = [captured[layer][0] for layer in layers]
        rows = inputs[0].shape[0]
        if any(x.shape[0] != rows for x in inputs):
            raise RuntimeError("private layers saw different numbers of rows in one step")
        outputs = [captured[layer][1] for layer in layers]
        grads = torch.autograd.grad(loss, outputs, allow_unused=True)
        # The loss is a mean, so each output gradient is a row's own gradient divided by rows.
        per_row = [g * rows if g is not None else None for g in grads]
        squared = loss.new_zeros(rows)
        for layer, x, g in zip(layers, inputs, per_row, strict=True):
            if g is None:
                continue
            g_squared = g.square().sum(1)
            if layer.weight.requires_grad:
                squared = squared + g_squared * x.square().sum(1)
            if layer.bias is not None and layer.bias.requires_grad:
                squared = squared + g_squared
        norms = squared.sqrt()
        clip = (self.calibration.settings.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for layer, x, g in zip(layers, inputs, per_row, strict=True):
            weighted = g * clip[:, None] if g is not None else None
            if layer.weight.requires_grad:
                layer.weight.grad = weighted.T @ x if weighted is not None else torch.zeros_like(layer.weight)
            if layer.bias is not None and layer.bias.requires_grad:
                layer.bias.grad = weighted.sum(0) if weighted is not None else torch.zeros_like(layer.bias)
        for p in self._params:
            if p.grad is None:  # a layer that did not run this step: no row has a gradient there
                p.grad = torch.zeros_like(p)
        return norms.detach()

    def step_without_rows(self) -> None:
        """The optimizer step of an empty Poisson batch: no gradient, only the noise.

        The accountant counts this step, so it must release what any step releases; skipping
        it would make the batch's emptiness (a fact about the data) visible in the weights.
        """
        self._captured = {}
        self.optimizer.zero_grad(set_to_none=True)
        for p in self._params:
            p.grad = torch.zeros_like(p)
        self.optimizer.step()

    def would_exceed_budget(self) -> bool:
        """Whether one more step would take the accountant's epsilon over the target.

        Free up to the calibrated steps (epsilon grows with steps, and those reach at most
        the target); beyond them the accountant is asked, once per step count.
        """
        if self.steps < self.calibration.steps:
            return False
        following = self.steps + 1
        if following not in self._verdicts:
            c = self.calibration
            spent = epsilon_spent(c.settings, c.noise_multiplier, c.sample_rate, following)
            self._verdicts[following] = spent > c.settings.epsilon
        return self._verdicts[following]

    def epsilon(self) -> float:
        """The accountant's epsilon after the steps taken so far."""
        if not self.steps:
            return 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # see `calibrate`
            options = _epsilon_options(self.calibration.settings.accountant)
            return float(self.accountant.get_epsilon(delta=self.calibration.settings.delta, **options))

    def finish(self, what: str) -> Release:
        """Remove the hooks; the release of the steps taken."""
        for hook in self._hooks:
            hook.remove()
        self._hooks, self._captured = [], {}
        for p in self._params:
            if hasattr(p, "summed_grad"):
                del p.summed_grad
        c = self.calibration
        return Release(
            what=what,
            mechanism=MECHANISM,
            epsilon=self.epsilon(),
            delta=c.settings.delta,
            noise=c.noise_multiplier,
            sample_rate=c.sample_rate,
            steps=self.steps,
        )

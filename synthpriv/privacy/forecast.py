"""What a DP-SGD plan will give, forecast from measured tables before anything trains.

``synthpriv check`` prints a band for the planned noise and steps (`forecast`), and a
warning line with the settings to change when the plan is outside the usable band. The band
is a forecast from the benchmark tables below, not a guarantee: other tables, networks,
learning rates and seeds move the boundary.

Two numbers of the plan decide it:

- the **DP-SGD steps**: fewer than `MIN_STEPS` never gave usable data (the networks stay
  near their start: shapes off by 16 to 69 %, most categories ``(other)``); the
  vae needed more than the diffusion model (`USABLE_STEPS`);
- the **noise per expected row**, ``sigma / B`` (noise multiplier over expected batch): the
  standard deviation of the noise on each step's mean clipped gradient, in units of
  ``max_grad_norm``. A larger batch divides it; fewer epochs (fewer steps for the same
  epsilon) and a larger epsilon lower the noise multiplier.

The rule: **usable** with at least ``USABLE_STEPS[kind]`` steps and ``sigma / B <=``
`USABLE_NOISE_PER_ROW`; **weak** (shapes kept, most relations lost) with at least
`MIN_STEPS` steps and ``sigma / B <=`` `WEAK_NOISE_PER_ROW`; **poor** otherwise. It agrees
with every row below. On small tables no setting reaches it: with n rows and epsilon,
``sigma / B`` at a fixed number of steps grows like ``1 / (n * epsilon)``; the demo table's
172 rows stayed poor at every setting up to epsilon 10.

Measured with benchmarks/dp_band.py (UCI Adult: a 6,000-row subsample of the official train
rows, ML AUC on the official test rows; the demo table: pipelines/demo_dp_sgd.yaml's split, ML
AUC for ``placed`` on 43 holdout rows, so noisy), one seed, OMP_WAIT_POLICY=PASSIVE on a
shared 2-core machine; the last three rows are issue 17's full-Adult runs of
benchmarks/adult_dp.py with the defaults (noise recomputed from today's plan). "independent"
shuffles each real column on its own (exact shapes, no relation), "real" scores the training
rows themselves. Even usable DP-SGD has a larger trend error than independent columns on
Adult (8 %): it keeps the shapes and a downstream model, not the pairwise relations
(``train.privacy.mechanism: marginals`` is the route for those). The rows up to the
3,000-step ones ran before declared nullability (commit fca7b6a: every DP column could be
null); three of them run again after it moved by at most 1.5 points of shape error (demo vae
epsilon 3: 38.47 %, Adult vae epsilon 10 30 epochs: 16.65 %, Adult diffusion epsilon 3 100
epochs: 21.29 %, ML AUC 0.792); the 3,000-step rows ran after it.

    | table, rows | generator | eps | epochs | batch | sigma | steps | sigma/B | shape % | trend % | ML AUC |
    |---|---|---|---|---|---|---|---|---|---|---|
    | demo 172 | independent | | | | | | | 0.00 | 12.36 | 0.517 |
    | demo 172 | real | | | | | | | 0.00 | 0.00 | 1.000 |
    | demo 172 | vae | 10 | 5 | 128 | 1.13 | 5 | 0.0088 | 65.01 | 57.47 | 0.586 |
    | demo 172 | vae | 10 | 30 | 128 | 2.47 | 30 | 0.0193 | 51.35 | 61.87 | 0.643 |
    | demo 172 | vae | 10 | 100 | 64 | 3.85 | 300 | 0.0601 | 40.52 | 61.84 | 0.731 |
    | demo 172 | vae | 10 | 300 | 64 | 6.56 | 900 | 0.1025 | 37.43 | 62.15 | 0.414 |
    | demo 172 | vae | 3 | 30 | 64 | 6 | 90 | 0.0937 | 60.30 | 57.73 | 0.536 |
    | demo 172 | vae | 3 | 100 | 64 | 10.7 | 300 | 0.1678 | 47.91 | 61.98 | 0.690 |
    | demo 172 | vae | 3 | 300 | 64 | 18.5 | 900 | 0.2893 | 40.04 | 62.87 | 0.464 |
    | demo 172 | vae | 3 | 300 | 128 | 21.3 | 300 | 0.1666 | 55.06 | 58.33 | 0.721 |
    | demo 172 | vae | 1 | 30 | 64 | 16 | 90 | 0.2502 | 68.65 | 57.53 | 0.357 |
    | demo 172 | diffusion | 10 | 5 | 128 | 1.13 | 5 | 0.0088 | 53.58 | 58.73 | 1.000 |
    | demo 172 | diffusion | 10 | 30 | 128 | 2.47 | 30 | 0.0193 | 53.32 | 58.67 | 0.855 |
    | demo 172 | diffusion | 10 | 100 | 64 | 3.85 | 300 | 0.0601 | 51.51 | 55.55 | 0.198 |
    | demo 172 | diffusion | 10 | 300 | 64 | 6.56 | 900 | 0.1025 | 53.55 | 56.13 | 0.867 |
    | demo 172 | diffusion | 3 | 30 | 64 | 6 | 90 | 0.0937 | 53.89 | 58.67 | 0.676 |
    | demo 172 | diffusion | 3 | 100 | 64 | 10.7 | 300 | 0.1678 | 53.52 | 58.25 | 1.000 |
    | demo 172 | diffusion | 3 | 300 | 64 | 18.5 | 900 | 0.2893 | 51.66 | 55.88 | 1.000 |
    | demo 172 | diffusion | 3 | 300 | 128 | 21.3 | 300 | 0.1666 | 53.05 | 57.99 | 0.505 |
    | demo 172 | diffusion | 1 | 30 | 64 | 16 | 90 | 0.2502 | 54.24 | 58.77 | 0.507 |
    | adult 6,000 | independent | | | | | | | 0.00 | 8.01 | 0.523 |
    | adult 6,000 | real | | | | | | | 0.00 | 0.00 | 0.912 |
    | adult 6,000 | vae | 10 | 5 | 2000 | 1.08 | 15 | 0.0005 | 34.12 | 77.67 | 0.652 |
    | adult 6,000 | vae | 10 | 30 | 500 | 1.19 | 360 | 0.0024 | 17.47 | 59.34 | 0.528 |
    | adult 6,000 | vae | 10 | 60 | 1000 | 2.02 | 360 | 0.0020 | 16.27 | 59.58 | 0.521 |
    | adult 6,000 | vae | 3 | 30 | 500 | 2.79 | 360 | 0.0056 | 28.98 | 72.76 | 0.555 |
    | adult 6,000 | vae | 3 | 100 | 500 | 4.86 | 1,200 | 0.0097 | 19.80 | 54.97 | 0.511 |
    | adult 6,000 | vae | 1 | 30 | 500 | 7.23 | 360 | 0.0145 | 42.16 | 84.49 | 0.500 |
    | adult 6,000 | vae | 1 | 100 | 1000 | 18.4 | 600 | 0.0184 | 40.60 | 81.70 | 0.500 |
    | adult 6,000 | vae | 1 | 100 | 250 | 9.22 | 2,400 | 0.0369 | 33.35 | 69.73 | 0.500 |
    | adult 6,000 | vae | 0.5 | 100 | 250 | 17.4 | 2,400 | 0.0697 | 56.16 | 80.50 | 0.500 |
    | adult 6,000 | diffusion | 10 | 5 | 2000 | 1.08 | 15 | 0.0005 | 36.37 | 54.08 | 0.497 |
    | adult 6,000 | diffusion | 10 | 30 | 500 | 1.19 | 360 | 0.0024 | 30.83 | 48.27 | 0.620 |
    | adult 6,000 | diffusion | 10 | 60 | 1000 | 2.02 | 360 | 0.0020 | 31.42 | 48.58 | 0.709 |
    | adult 6,000 | diffusion | 3 | 30 | 500 | 2.79 | 360 | 0.0056 | 36.28 | 55.83 | 0.340 |
    | adult 6,000 | diffusion | 3 | 100 | 500 | 4.86 | 1,200 | 0.0097 | 21.96 | 37.54 | 0.765 |
    | adult 6,000 | diffusion | 1 | 30 | 500 | 7.23 | 360 | 0.0145 | 48.60 | 68.85 | 0.500 |
    | adult 6,000 | diffusion | 1 | 100 | 1000 | 18.4 | 600 | 0.0184 | 48.40 | 68.78 | 0.500 |
    | adult 6,000 | diffusion | 1 | 100 | 250 | 9.22 | 2,400 | 0.0369 | 39.77 | 60.25 | 0.500 |
    | adult 6,000 | diffusion | 0.5 | 100 | 250 | 17.4 | 2,400 | 0.0697 | 64.92 | 81.48 | 0.500 |
    | adult 6,000 | vae | 10 | 250 | 500 | 2.76 | 3,000 | 0.0055 | 8.60 | 26.80 | 0.755 |
    | adult 6,000 | vae | 3 | 250 | 500 | 7.62 | 3,000 | 0.0152 | 17.49 | 54.41 | 0.536 |
    | adult 6,000 | diffusion | 10 | 250 | 500 | 2.76 | 3,000 | 0.0055 | 10.98 | 20.00 | 0.861 |
    | adult 6,000 | diffusion | 3 | 250 | 500 | 7.62 | 3,000 | 0.0152 | 18.45 | 35.07 | 0.821 |
    | adult 32,561 (issue 17) | vae | 1 | 152 | 500 | 7.34 | 9,880 | 0.0147 | 9.81 | 30.32 | 0.805 |
    | adult 32,561 (issue 17) | vae | 3 | 152 | 500 | 2.76 | 9,880 | 0.0055 | 5.23 | 19.69 | 0.867 |
    | adult 32,561 (issue 17) | diffusion | 3 | 100 | 1024 | 3.2 | 3,200 | 0.0031 | 9.63 | 18.19 | 0.869 |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Fewer DP-SGD steps than this gave no usable data in any measured fit (up to 2,400 were poor).
MIN_STEPS = 3_000
#: The steps each generator needed for usable data at low noise: the diffusion model's fits
#: of 3,000 and 3,200 steps were usable, the vae's 3,000 weak and its 9,880 usable, the
#: autoregressive one's 1,908 on full Adult (epsilon 3, benchmarks/adult_dp.py) usable. A
#: generator not measured gets the largest.
USABLE_STEPS: dict[str, int] = {"vae": 9_000, "diffusion": 3_000, "autoregressive": 1_900}
#: sigma / B at or below which fits with enough steps were usable (0.0031 to 0.0055 were).
USABLE_NOISE_PER_ROW = 0.006
#: sigma / B above which fits lost the shapes too (0.0147 was weak, 0.0152 poor).
WEAK_NOISE_PER_ROW = 0.015

WHERE = "benchmarks/dp_band.py, Adult and the demo table"


class Band(StrEnum):
    """The measured outcome a plan falls in."""

    USABLE = "usable"
    WEAK = "weak"
    POOR = "poor"


#: What each band gave in the measured tables, for the printed line.
MEASURED: dict[Band, str] = {
    Band.USABLE: "shape error 5-11 %, trend error 18-20 %, ML AUC 0.86-0.87 on Adult",
    Band.WEAK: "shape error 9-10 %, trend error 27-30 %, ML AUC 0.76-0.81 on Adult",
    Band.POOR: "shape error 16-69 %: the columns' own distributions lost",
}


@dataclass(frozen=True)
class Forecast:
    """The band a DP-SGD plan falls in and the lines ``synthpriv check`` prints for it."""

    band: Band
    noise_per_row: float
    steps: int
    warning: str | None
    """One line naming what is off and the settings to change; None inside the usable band."""

    def lines(self) -> list[str]:
        head = (
            f"  forecast: {self.band} ({self.steps:,} steps, noise per expected row "
            f"{self.noise_per_row:.3g}): measured {MEASURED[self.band]} ({WHERE}); "
            "a forecast from measured tables, not a guarantee"
        )
        return [head] if self.warning is None else [head, f"  warning: {self.warning}"]


def usable_steps(kind: str) -> int:
    """The steps ``kind`` needed for usable data (the largest measured for one not measured)."""
    return USABLE_STEPS.get(kind, max(USABLE_STEPS.values()))


def forecast(kind: str, noise_multiplier: float, steps: int, expected_batch: int) -> Forecast:
    """The band of a DP-SGD plan for the ``kind`` generator: ``steps`` steps with
    ``noise_multiplier`` on Poisson batches of ``expected_batch`` expected rows
    (`NoiseCalibration`'s numbers)."""
    noise_per_row = noise_multiplier / max(expected_batch, 1)
    if steps >= usable_steps(kind) and noise_per_row <= USABLE_NOISE_PER_ROW:
        band = Band.USABLE
    elif steps >= MIN_STEPS and noise_per_row <= WEAK_NOISE_PER_ROW:
        band = Band.WEAK
    else:
        band = Band.POOR
    warning = None if band is Band.USABLE else _warning(kind, noise_per_row, steps)
    return Forecast(band, noise_per_row, steps, warning)


def _warning(kind: str, noise_per_row: float, steps: int) -> str:
    """The line for a plan outside the usable band: what is off, then the settings to change."""
    off = []
    if noise_per_row > USABLE_NOISE_PER_ROW:
        off.append(
            f"noise per expected row {noise_per_row:.3g} > {USABLE_NOISE_PER_ROW:g} (fewer train.epochs, "
            "a larger train.batch_size or a larger train.privacy.epsilon lowers it)"
        )
    needed = usable_steps(kind)
    if steps < needed:
        off.append(f"{steps:,} steps < {needed:,} for the {kind} (more train.epochs, if the noise allows)")
    return (
        "outside the usable band: "
        + "; ".join(off)
        + "; where no setting meets both (small tables, small epsilon), "
        "use train.privacy.mechanism: marginals"
    )

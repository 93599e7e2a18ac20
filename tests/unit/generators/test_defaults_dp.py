"""Default epochs: a DP fit takes fewer steps, since each step pays for its noise."""

from __future__ import annotations

import pytest

from synthpriv.generators.params import DEFAULT_DP_EPOCHS, DEFAULT_EPOCHS, DEFAULT_STEPS, default_epochs


@pytest.mark.parametrize("kind", ["vae", "gan", "diffusion"])
def test_private_defaults_never_exceed_the_plain_ones(kind: str) -> None:
    for rows in (50, 1_000, 32_561, 1_000_000):
        assert default_epochs(kind, rows, 500, private=True) <= default_epochs(kind, rows, 500)


def test_adult_sized_defaults() -> None:
    # 32,561 rows: 66 steps an epoch at batch 500, 32 at 1,024.
    assert default_epochs("gan", 32_561, 500) == DEFAULT_EPOCHS["gan"] == 300
    assert default_epochs("gan", 32_561, 500, private=True) == DEFAULT_DP_EPOCHS["gan"] == 100
    assert default_epochs("diffusion", 32_561, 1024, private=True) == 100
    assert default_epochs("diffusion", 32_561, 1024) == 657  # capped at DEFAULT_STEPS
    assert default_epochs("vae", 32_561, 500, private=True) == default_epochs("vae", 32_561, 500) == 152
    assert -(-DEFAULT_STEPS["vae"] // 66) == 152

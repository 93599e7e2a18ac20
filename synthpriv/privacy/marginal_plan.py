"""The privacy plan of ``train.privacy.mechanism: marginals``: decided once, printed by
``synthpriv check``, executed by train (the DP-SGD plan's counterpart, `PrivacyPlan`).

The budget goes first to the preprocessing releases a transformer needs (quantile maps of
numbers, undeclared category lists: `synthpriv.privacy.preprocessing`, the same releases a
DP-SGD run makes), then whatever ``(epsilon, delta)`` they leave becomes the zCDP rho of the
marginal mechanism (`synthpriv.privacy.marginals`), charged to the ledger as one release.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synthpriv.config.privacy import PrivacyConfig
from synthpriv.data.schema import TableSchema
from synthpriv.errors import PrivacyConfigError
from synthpriv.privacy.marginals import MarginalBudget, MarginalTrainer, refuse_unmarginal
from synthpriv.privacy.noise import zcdp_rho
from synthpriv.privacy.plan import PreprocessingPlan, plan_preprocessing, release_lines
from synthpriv.training.seam import FitShape

if TYPE_CHECKING:
    from synthpriv.config.model import ColumnDeclaration


@dataclass(frozen=True)
class MarginalPlan(PreprocessingPlan):
    """Everything a marginals run will release, and what each release costs, known before training."""

    budget: MarginalBudget

    @classmethod
    def build(
        cls,
        privacy: PrivacyConfig,
        schema: TableSchema,
        declarations: Mapping[str, ColumnDeclaration],
        fit: FitShape,
        target: str | None = None,
    ) -> MarginalPlan:
        """Decide the plan; PrivacyConfigError when the run cannot keep its promise. Reads no value."""
        refuse_unmarginal(fit)
        ledger, planned = plan_preprocessing(privacy, schema, declarations, fit.rows)
        epsilon, delta = ledger.remaining_epsilon, ledger.remaining_delta
        if epsilon <= 0 or delta <= 0:
            raise PrivacyConfigError(
                "preprocessing leaves no budget for the marginals", where="train.privacy.preprocessing_share"
            )
        names = [column.name for column in schema.modelled()]
        # Declared missing groups are one more variable, their pattern (`MissingPatterns`).
        attributes = len(names) + bool(getattr(declarations, "missing_together", ()))
        focus = target if target in names else None
        rho = zcdp_rho(epsilon, delta)
        budget = MarginalBudget.plan(rho, delta, attributes, privacy.rounds, focus, rows=fit.rows)
        if budget.epsilon > epsilon * (1 + 1e-9):
            raise RuntimeError("the zCDP conversion overspends the remaining epsilon")
        return cls(privacy, fit, tuple(planned), ledger, budget)

    def trainer(self) -> MarginalTrainer:
        """The trainer that measures the planned marginals with the planned noise."""
        return MarginalTrainer(self.budget)

    def describe(self) -> list[str]:
        """The plan in lines for a terminal: the totals, each release, the marginals' noise."""
        ledger, budget = self.ledger, self.budget
        headline = (
            f"differential privacy (marginals): epsilon {ledger.epsilon:g}, delta {ledger.delta:.3g} on "
            f"{self.fit.rows:,} training rows; preprocessing {len(ledger.releases)} release(s), epsilon "
            f"{ledger.spent_epsilon:.3g}; marginals epsilon {budget.epsilon:.3g}"
        )
        return [headline, *release_lines(ledger), *budget.describe()]

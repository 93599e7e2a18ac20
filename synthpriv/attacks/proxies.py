"""The distance proxies and the epsilon audit, as one registered attack (``distance_proxies``).

`synthpriv.attacks.distance` measures how close synthetic rows sit to training rows against
held-out rows (DCR share, exact matches, NNDR, the distance membership attack); the audit
(`synthpriv.attacks.audit`) turns that attack's per-row distances into an empirical lower bound
on epsilon beside the run's claim. Their figures are kept at the top level of the attack
stage's ``summary.json`` (`store`), where runs before the attack registry wrote them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from synthpriv.attacks.audit import AuditResult, epsilon_lower_bound
from synthpriv.attacks.base import Attack, AttackInputs, NoSettings, Score
from synthpriv.attacks.distance import DistanceHistogram, dcr_evaluation, exact_match_share
from synthpriv.config.base import StrictModel


class ProxyFigures(StrictModel):
    """The distance proxies (see `synthpriv.attacks.distance.DCRResult`) and the audit."""

    dcr_share: float = Field(ge=0, le=1)
    dcr_share_ci: tuple[float, float]
    median_dcr_train: float
    median_dcr_holdout: float
    exact_match_train: float
    exact_match_holdout: float
    exact_match_all_train: float
    """Against every training row, not just the sample the same size as the holdout."""
    median_nndr_train: float
    """Median ratio of a synthetic row's nearest to second-nearest train-sample distance (proxy)."""
    median_nndr_holdout: float
    low_nndr_train: float
    """Share of synthetic rows with that ratio below 0.5 against train; compare with the holdout's."""
    low_nndr_holdout: float
    mia_auc: float
    mia_auc_ci: tuple[float, float]
    rows_train: int
    rows_holdout: int
    rows_synthetic: int
    distance_histogram: DistanceHistogram
    """Distances of the synthetic rows to the closest train and holdout row, binned (the report's chart)."""
    audit: AuditResult | None = None
    """Empirical lower bound on epsilon from the distance membership attack."""


class DistanceProxies(Attack[NoSettings, ProxyFigures]):
    name = "distance_proxies"
    title = "distance proxies"
    kind = "proxy"
    description = "How close synthetic rows sit to training rows, against held-out rows."
    settings_model = NoSettings
    result_model = ProxyFigures
    gates = ("max_exact_match_share", "max_dcr_share")

    def run(self, inputs: AttackInputs, settings: NoSettings) -> ProxyFigures:
        dcr_seed, audit_seed = inputs.seed_sequence(self.name).spawn(2)
        train = inputs.train
        dcr = dcr_evaluation(
            train, inputs.holdout, inputs.synthetic, inputs.schema, seed=dcr_seed, max_rows=inputs.max_rows
        )
        columns = [c.name for c in inputs.schema.modelled()]
        # Without a claim, the audit still says how much leakage the attack can prove, at a
        # delta of 1 / (10 n), the usual default.
        delta = inputs.claim.delta if inputs.claim else 1.0 / (10.0 * len(train))
        members, non_members = dcr.membership_distances
        audit = epsilon_lower_bound(-members, -non_members, delta=delta, seed=audit_seed)
        return ProxyFigures(
            **dcr.model_dump(exclude={"histogram", "encoded_dims", "seconds"}),
            distance_histogram=dcr.histogram,
            exact_match_all_train=exact_match_share(inputs.synthetic, train, columns),
            audit=audit,
        )

    def scores(self, result: ProxyFigures) -> list[Score]:
        return [
            Score(
                attack=self.name,
                label="distance membership inference",
                measure="roc_auc",
                value=result.mia_auc,
                ci_low=result.mia_auc_ci[0],
                ci_high=result.mia_auc_ci[1],
                control=0.5,
            ),
            Score(
                attack=self.name,
                label="closer to train than holdout",
                measure="share",
                value=result.dcr_share,
                ci_low=result.dcr_share_ci[0],
                ci_high=result.dcr_share_ci[1],
                control=0.5,
            ),
            Score(
                attack=self.name,
                label="identical to a training row",
                measure="share",
                value=result.exact_match_all_train,
                control=result.exact_match_holdout,
            ),
        ]

    def gate_values(self, result: ProxyFigures) -> dict[str, float]:
        return {"max_exact_match_share": result.exact_match_all_train, "max_dcr_share": result.dcr_share}

    def store(self, result: ProxyFigures) -> dict[str, Any]:
        # At the top level of the summary, where the index, the data card and older runs read them.
        return result.model_dump(mode="json")

    def load(self, summary: Mapping[str, Any]) -> ProxyFigures | None:
        if "dcr_share" not in summary:
            return None
        return ProxyFigures.model_validate({k: summary[k] for k in ProxyFigures.model_fields if k in summary})

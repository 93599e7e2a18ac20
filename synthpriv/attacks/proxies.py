"""The distance proxies and the epsilon audit, as one registered attack (``distance_proxies``).

`synthpriv.attacks.distance` measures how close synthetic rows sit to training rows against
held-out rows (DCR share, exact matches, NNDR, the distance membership attack); the audit
(`synthpriv.attacks.audit`) turns that attack's per-row distances into an empirical lower bound
on epsilon beside the run's claim. Their figures are kept at the top level of the attack
stage's ``summary.json`` (`store`), where runs before the attack registry wrote them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from synthpriv.attacks.audit import AuditResult, epsilon_lower_bound
from synthpriv.attacks.base import Attack, AttackInputs, NoSettings, Score
from synthpriv.attacks.distance import DistanceHistogram, dcr_evaluation, exact_match_share
from synthpriv.config.base import StrictModel
from synthpriv.reports import charts, verdicts
from synthpriv.reports.model import Chart, Figure, Section, Table

if TYPE_CHECKING:
    from synthpriv.attacks.summary import AttackSummary


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

    def sections(self, result: ProxyFigures, summary: AttackSummary) -> tuple[Section, ...]:
        audit = (_audit_section(result.audit, summary),) if result.audit else ()
        return (_distance_section(result, summary.holdout_rows_dropped), *audit, _proxies_section(result))


def _distance_section(result: ProxyFigures, dropped: int) -> Section:
    return Section(
        title="Membership inference (distance to closest record)",
        text=(
            "The attacker scores each real person by how close the nearest synthetic row is. Members are "
            "training rows; non-members are real held-out rows the generator never saw, the control. "
            "An AUC of 0.5 means the synthetic table tells the attacker nothing about who trained it."
        ),
        figures=(
            Figure(
                "attack ROC AUC",
                f"{result.mia_auc:.3f}",
                note=f"95% CI {result.mia_auc_ci[0]:.3f}–{result.mia_auc_ci[1]:.3f}; ideal 0.5",
                tone=verdicts.tone_membership_auc(result.mia_auc, result.mia_auc_ci),
                kind="membership_auc",
            ),
            Figure(
                "members / non-members",
                f"{result.rows_train:,} / {result.rows_holdout:,}",
                note=f"{dropped:,} holdout rows that repeated training rows were dropped" if dropped else "",
            ),
        ),
    )


def _audit_section(audit: AuditResult, summary: AttackSummary) -> Section:
    if summary.claimed_epsilon is None:
        claim = Figure("claimed epsilon", "none", note="this run was trained without differential privacy")
    else:
        claim = Figure(
            "claimed epsilon",
            f"{summary.claimed_epsilon:.3g}",
            note=f"delta {summary.claimed_delta:.2g}; from the privacy ledger",
        )
    return Section(
        title="Audit: how much leakage the attack can prove",
        text=(
            "Any (epsilon, delta)-DP model caps every membership test: TPR <= e^epsilon FPR + delta. "
            "The attack's threshold is chosen on half of the members and non-members and tested on the "
            "other half; exact (Clopper-Pearson) intervals turn its rates into a lower bound on epsilon "
            f"that holds with {audit.confidence:.0%} confidence. A bound above the claim would refute it; "
            "a bound of 0 means the attack proves nothing, which is not a proof of privacy. "
            "The ceiling is the most these row counts could prove."
        ),
        figures=(
            claim,
            Figure(
                "empirical epsilon, lower bound",
                f"{audit.epsilon_lower_bound:.3g}",
                note=f"TPR {audit.tpr:.3f} vs FPR {audit.fpr:.3f} on {audit.members:,} / {audit.nonmembers:,} held-out rows",
                tone=verdicts.tone_audit_epsilon(audit.epsilon_lower_bound, summary.claimed_epsilon),
                kind="audit_epsilon",
            ),
            Figure(
                "provable at most",
                f"{audit.epsilon_ceiling:.3g}",
                note="the bound a perfect attack would give here",
            ),
        ),
    )


def _proxies_section(result: ProxyFigures) -> Section:
    return Section(
        title="Proxies (necessary, not sufficient)",
        text=(
            "These are proxies, not attacks: passing them does not prove privacy (a generator can pass every one "
            "and still leak, e.g. through rare combinations); failing them shows a problem. Each is set beside the "
            "same figure for real held-out rows, which is what an honest generator looks like."
        ),
        figures=_proxy_figures(result),
        charts=(_distance_chart(result.distance_histogram),),
        tables=(_proxy_table(result),),
    )


def _proxy_figures(result: ProxyFigures) -> tuple[Figure, ...]:
    return (
        Figure(
            "closer to train than holdout",
            f"{result.dcr_share:.3f}",
            note=f"95% CI {result.dcr_share_ci[0]:.3f}–{result.dcr_share_ci[1]:.3f}; ideal 0.5",
            tone=verdicts.tone_closer_share(result.dcr_share, result.dcr_share_ci),
            kind="closer_share",
        ),
        Figure(
            "identical to a training row",
            f"{result.exact_match_all_train:.2%}",
            note=f"sample-matched: train {result.exact_match_train:.2%} vs holdout control {result.exact_match_holdout:.2%}",
            tone=verdicts.tone_exact_match(result.exact_match_train, result.exact_match_holdout),
            kind="exact_match",
        ),
        Figure(
            "median distance",
            f"{result.median_dcr_train:.3f}",
            note=f"to train; to holdout {result.median_dcr_holdout:.3f}",
        ),
        Figure(
            "nearest-neighbour distance ratio",
            f"{result.median_nndr_train:.3f}",
            note=f"median against train; against holdout {result.median_nndr_holdout:.3f} (lower than the holdout's: rows sit next to one training row)",
            tone=verdicts.tone_nndr(result.median_nndr_train, result.median_nndr_holdout),
            kind="nndr",
        ),
    )


def _distance_chart(hist: DistanceHistogram) -> Chart:
    return charts.histogram_chart(
        "Distance of each synthetic row to its nearest real row",
        hist.edges,
        {
            "train": [c / max(sum(hist.train_counts), 1) for c in hist.train_counts],
            "holdout": [c / max(sum(hist.holdout_counts), 1) for c in hist.holdout_counts],
        },
        caption="If the two shapes match, synthetic rows are no closer to training rows than to unseen real rows.",
    )


def _proxy_table(result: ProxyFigures) -> Table:
    def interval(ci: tuple[float, float]) -> str:
        return f"{ci[0]:.3f}–{ci[1]:.3f}"

    return Table(
        headers=("figure", "value", "95% interval", "control / ideal"),
        rows=(
            ("membership AUC", f"{result.mia_auc:.3f}", interval(result.mia_auc_ci), "0.5"),
            ("closer-to-train share", f"{result.dcr_share:.3f}", interval(result.dcr_share_ci), "0.5"),
            (
                "exact matches (sample-matched)",
                f"{result.exact_match_train:.4f}",
                "–",
                f"holdout {result.exact_match_holdout:.4f}",
            ),
            (
                "median NNDR (nearest / second-nearest)",
                f"{result.median_nndr_train:.3f}",
                "–",
                f"holdout {result.median_nndr_holdout:.3f}; ideal: not below it",
            ),
            (
                "share with NNDR < 0.5",
                f"{result.low_nndr_train:.3f}",
                "–",
                f"holdout {result.low_nndr_holdout:.3f}; ideal: not above it",
            ),
        ),
    )

"""The outlier pages (issue 19, must-haves 4 and 5): the attack page's section of the membership
attack on the most outlying rows, and the page of `synthpriv outliers`.

Both render aggregates only: rates with intervals and counts for the attack; for the command,
the distribution of the scores (binned, the top bin holding every larger score) and each
column's share of the reconstruction error among the most outlying rows. No row or value is
shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthpriv.attacks.base import MembershipScore
from synthpriv.attacks.outliers import OutlierMembershipResult, OutlierTier, tier_label
from synthpriv.attacks.summary import AttackSummary
from synthpriv.reports import charts, verdicts
from synthpriv.reports.model import Figure, Report, Section, Table

# The FPR at which `MembershipScore.tpr_at_fpr_1pct` is read.
_FPR_1PCT = 0.01


def outlier_attack_sections(result: OutlierMembershipResult, summary: AttackSummary) -> tuple[Section, ...]:
    """The attack page's section: each tier's attackers, the lead tier's figures, the nearness counts."""
    return (
        Section(
            title="Membership inference on the most outlying rows",
            text=_attack_text(result),
            figures=_attack_figures(result),
            tables=(_tiers_table(result),),
            anchor="outliers",
        ),
    )


def _attack_text(result: OutlierMembershipResult) -> str:
    notes = " ".join(f"{tier.note[0].upper()}{tier.note[1:]}." for tier in result.tiers if tier.note)
    return (
        "Membership attacks succeed first on unusual people: an average near chance can hide a few who "
        "are fully exposed. Autoencoders rank every training row and every held-out non-member by how "
        "badly they reconstruct it (each row scored by networks fitted on training rows that did not "
        "include it), and the membership attackers above score the most outlying training rows against "
        f"equally outlying held-out rows ({result.training_rows:,} training rows and "
        f"{result.non_member_rows:,} non-members ranked; {result.reference_rows:,} reference rows held by "
        "the attacker)." + (f" {notes}" if notes else "")
    )


def _attack_figures(result: OutlierMembershipResult) -> tuple[Figure, ...]:
    tier = result.gate_tier()
    strongest = tier.strongest_score() if tier else None
    if tier is None or strongest is None:
        return (Figure("outlier membership", "not measured", note="too few rows for any tier"),)
    label = tier_label(tier)
    figures = [
        Figure(
            f"strongest attack, {label}",
            strongest.name,
            note=(
                f"ROC AUC {strongest.auc:.3f}, 95% CI {strongest.auc_ci[0]:.3f}–{strongest.auc_ci[1]:.3f}; "
                f"{tier.members:,} training vs {tier.non_members:,} held-out rows; ideal 0.5"
            ),
            # The tiers' scores keep their built-in direction: no reference-half check flips them.
            tone=verdicts.tone_membership_auc(strongest.auc, strongest.auc_ci, direction_checked=False),
            kind="membership_auc",
        ),
        _tpr_figure(result),
        Figure(
            f"{label}: nearer a synthetic row than any real one",
            f"{tier.members_nearer_synthetic or 0:,} of {tier.members:,}",
            note=(
                f"training rows; held-out control {tier.non_members_nearer_synthetic or 0:,} of "
                f"{tier.non_members:,}"
            ),
        ),
    ]
    return tuple(figures)


def _tpr_figure(result: OutlierMembershipResult) -> Figure:
    """TPR at FPR 1 % of the strongest attack on the smallest tier that resolves it."""
    tier = next((t for t in result.tiers if t.measured and t.tpr_at_fpr_1pct_resolved), None)
    score = tier.strongest_score() if tier else None
    if tier is None or score is None:
        return Figure(
            "TPR at FPR 1%",
            "not resolved",
            note="fewer than 100 held-out non-members in every tier: an FPR of 1% is not observable",
        )
    return Figure(
        f"TPR at FPR 1%, {tier_label(tier)} ({score.name})",
        f"{score.tpr_at_fpr_1pct:.3f}",
        note=(
            f"95% CI {score.tpr_at_fpr_1pct_ci[0]:.3f}–{score.tpr_at_fpr_1pct_ci[1]:.3f}; ideal 0.01: "
            "members found no more often than non-members are wrongly accused"
        ),
        tone=verdicts.tone_tpr_at_fpr(score.tpr_at_fpr_1pct, score.tpr_at_fpr_1pct_ci, _FPR_1PCT),
        kind="tpr_at_low_fpr",
    )


def _tiers_table(result: OutlierMembershipResult) -> Table:
    rows: list[tuple[str, ...]] = []
    for tier in result.tiers:
        if not tier.measured:
            rows.append((f"{tier.share:.0%} most outlying", "–", "not measured", "–", "–", "–"))
            continue
        for attack in sorted(tier.attacks, key=lambda a: a.auc_ci[0], reverse=True):
            rows.append(_attack_row(tier, attack))
    return Table(
        headers=(
            "rows",
            "attack",
            "ROC AUC (95% interval)",
            "TPR at FPR 1% (95% interval)",
            "training / held-out rows",
            "nearer a synthetic row than any real one",
        ),
        rows=tuple(rows),
        caption=(
            "Ideal: AUC 0.5, TPR equal to the FPR, no more training rows than held-out rows next to a "
            "synthetic row. Intervals: bootstrap over the target rows."
        ),
    )


def _attack_row(tier: OutlierTier, attack: MembershipScore) -> tuple[str, ...]:
    low, high = attack.tpr_at_fpr_1pct_ci
    tpr = (
        f"{attack.tpr_at_fpr_1pct:.3f} ({low:.3f}–{high:.3f})"
        if tier.tpr_at_fpr_1pct_resolved
        else f"not resolved ({tier.non_members:,} non-members)"
    )
    return (
        tier_label(tier),
        attack.name + (" (strongest)" if attack.name == tier.strongest else ""),
        f"{attack.auc:.3f} ({attack.auc_ci[0]:.3f}–{attack.auc_ci[1]:.3f})",
        tpr,
        f"{tier.members:,} / {tier.non_members:,}",
        f"{tier.members_nearer_synthetic or 0:,} / {tier.non_members_nearer_synthetic or 0:,}",
    )


# --- the page of `synthpriv outliers` -----------------------------------------------------


@dataclass(frozen=True)
class OutlierOverview:
    """What the outliers page shows: aggregates of one table's outlier scores."""

    source: str
    """The data file's name, as the user gave it."""
    rows: int
    networks: int
    bottleneck: int
    epochs: int
    quantiles: dict[str, float]
    """Score quantiles by label (``median``, ``95th percentile`` ...)."""
    histogram_edges: list[float]
    """Bin edges of the scores; the last bin also holds every larger score."""
    histogram_counts: list[int]
    top_rows: int
    """How many of the highest-scoring rows `top_shares` covers."""
    top_shares: dict[str, float]
    """Each column's share of the summed error of the `top_rows` most outlying rows."""
    seconds: float


def outliers_page(name: str, overview: OutlierOverview) -> Report:
    """The page of `synthpriv outliers`: the score distribution and the columns behind the top scores."""
    return Report(
        stage="outliers",
        title="Outliers",
        run_name=name,
        subtitle="Which rows are unusual, and in which columns?",
        sections=(_distribution_section(overview), _columns_section(overview)),
    )


def _distribution_section(overview: OutlierOverview) -> Section:
    total = max(sum(overview.histogram_counts), 1)
    chart = charts.histogram_chart(
        "Outlier scores",
        overview.histogram_edges,
        {"rows": [count / total for count in overview.histogram_counts]},
        caption="Share of rows in each bin of the score; the last bin holds every larger score.",
    )
    figures = (
        Figure("rows scored", f"{overview.rows:,}", note=f"in {overview.source}"),
        *(Figure(label, f"{value:.2f}") for label, value in overview.quantiles.items()),
    )
    return Section(
        title="Outlier scores",
        text=(
            f"{overview.networks} autoencoders (small networks that squeeze a row through "
            f"{overview.bottleneck} numbers and rebuild it), each trained for {overview.epochs} epochs on "
            "every row, rebuild each row; a "
            "row's score is how badly, column by column, relative to the column's average error (1 = a "
            "typical row). High scores are rows unlike the rest: rare categories, values the other "
            f"columns do not explain, unusual missing values. Fitted and scored in {overview.seconds:.1f} s. "
            "scores.parquet beside this page holds each row's position in the file and its score."
        ),
        figures=figures,
        charts=(chart,),
        anchor="scores",
    )


def _columns_section(overview: OutlierOverview) -> Section:
    ordered = sorted(overview.top_shares, key=lambda c: overview.top_shares[c], reverse=True)
    even = 1.0 / max(len(ordered), 1)
    chart = charts.bar_chart(
        "Share of the top rows' error by column",
        ordered,
        {"share": [overview.top_shares[c] for c in ordered]},
        caption=f"Over all rows every column carries {even:.1%}; a longer bar drives the top scores.",
    )
    table = Table(
        headers=(
            "column",
            f"share of the error of the {overview.top_rows:,} most outlying rows",
            "over all rows",
        ),
        rows=tuple((c, f"{overview.top_shares[c]:.1%}", f"{even:.1%}") for c in ordered),
    )
    return Section(
        title="Columns that drive the top scores",
        text=(
            f"How the error of the {overview.top_rows:,} highest-scoring rows splits over the columns. A "
            "column's errors are scaled by its average over all rows, so over all rows each column carries "
            f"the same share ({even:.1%}, one of {len(ordered)}); a column well above it is where the top "
            "rows are unusual."
        ),
        charts=(chart,),
        tables=(table,),
        anchor="columns",
    )

"""The papers and documentation behind every method a page shows, once, as plain links.

Each page ends with a short list of the references for the methods it reports (issue 20): the
attack page cites the attacks, the validate page the fidelity metrics, the train page the
generator and, for a DP run, the accountant and mechanisms. A page whose `Report.references` is
empty gets its stage's list here (`for_page`), so a page built elsewhere still cites its methods.
Links are plain ``https`` addresses: the page reads offline, the links open when there is a network.
"""

from __future__ import annotations

from synthpriv.reports.model import Reference

# --- privacy attacks ------------------------------------------------------------------------
DOMIAS = Reference(
    "van Breugel, Sun, Qian, van der Schaar 2023, Membership inference attacks against synthetic data "
    "through overfitting detection (DOMIAS, AISTATS)",
    "https://arxiv.org/abs/2302.12580",
    "the domias membership attack",
)
LOGAN = Reference(
    "Hayes, Melis, Danezis, De Cristofaro 2019, LOGAN: membership inference attacks against generative "
    "models (PETS)",
    "https://arxiv.org/abs/1705.07663",
    "the classifier membership attack",
)
CARLINI = Reference(
    "Carlini et al. 2022, Membership inference attacks from first principles (IEEE S&P)",
    "https://arxiv.org/abs/2112.03570",
    "true-positive rates at a low false-positive rate",
)
HANLEY_MCNEIL = Reference(
    "Hanley, McNeil 1982, The meaning and use of the area under a ROC curve (Radiology)",
    "https://doi.org/10.1148/radiology.143.1.7063747",
    "the interval of each attack's direction check",
)
ANONYMETER = Reference(
    "Giomi, Boenisch, Wehmeyer, Tasnádi 2023, A unified framework for quantifying privacy risk in "
    "synthetic data (Anonymeter, PETS)",
    "https://arxiv.org/abs/2211.10459",
    "singling out, linkability and attribute inference risks",
)
ANONYMETER_DOCS = Reference(
    "Anonymeter, the reference implementation", "https://github.com/statice/anonymeter", "the same risks"
)
TABSYN = Reference(
    "Zhang et al. 2024, Mixed-type tabular data synthesis with score-based diffusion in latent space "
    "(TabSyn, ICLR)",
    "https://arxiv.org/abs/2310.09656",
    "the distance-to-closest-record protocol (train against holdout)",
)
JAGIELSKI = Reference(
    "Jagielski, Ullman, Oprea 2020, Auditing differentially private machine learning (NeurIPS)",
    "https://arxiv.org/abs/2006.07709",
    "the empirical epsilon lower bound",
)

# --- fidelity -------------------------------------------------------------------------------
SDMETRICS = Reference(
    "SDMetrics Quality Report: column shapes and column pair trends",
    "https://docs.sdv.dev/sdmetrics/reports/quality-report",
    "quality, column shapes, column pair trends",
)
KYNKAANNIEMI = Reference(
    "Kynkäänniemi, Karras, Laine, Lehtinen, Aila 2019, Improved precision and recall metric for "
    "assessing generative models (NeurIPS)",
    "https://arxiv.org/abs/1904.06991",
    "precision and recall (coverage)",
)
C2ST = Reference(
    "Lopez-Paz, Oquab 2017, Revisiting classifier two-sample tests (ICLR)",
    "https://arxiv.org/abs/1610.06545",
    "the detection AUC",
)
EFFICACY = Reference(
    "Esteban, Hyland, Rätsch 2017, Real-valued (medical) time series generation with recurrent "
    "conditional GANs (train on synthetic, test on real)",
    "https://arxiv.org/abs/1706.02633",
    "machine-learning efficacy",
)

# --- training and differential privacy ------------------------------------------------------
CTGAN = Reference(
    "Xu et al. 2019, Modeling tabular data using conditional GAN (CTGAN and TVAE, NeurIPS)",
    "https://arxiv.org/abs/1907.00503",
    "the gan and vae generators",
)
TABDDPM = Reference(
    "Kotelnikov, Baranchuk, Rubachev, Babenko 2023, TabDDPM: modelling tabular data with diffusion "
    "models (ICML)",
    "https://arxiv.org/abs/2209.15421",
    "the diffusion generator",
)
TABULAR_ARGN = Reference(
    "Tiwald et al. 2025, TabularARGN: a flexible and efficient auto-regressive framework for generating "
    "high-fidelity synthetic data",
    "https://arxiv.org/abs/2501.12012",
    "the autoregressive generator (training in random column orders, conditions by construction)",
)
AIM = Reference(
    "McKenna, Mullins, Sheldon, Miklau 2022, AIM: an adaptive and iterative mechanism for differentially "
    "private synthetic data (VLDB)",
    "https://arxiv.org/abs/2201.12677",
    "the marginal generator's adaptive marginals",
)
ZCDP = Reference(
    "Bun, Steinke 2016, Concentrated differential privacy (TCC)",
    "https://arxiv.org/abs/1605.02065",
    "zCDP accounting of the marginals",
)
DPSGD = Reference(
    "Abadi et al. 2016, Deep learning with differential privacy (CCS)",
    "https://arxiv.org/abs/1607.00133",
    "DP-SGD",
)
OPACUS = Reference(
    "Opacus: user-friendly differential privacy library in PyTorch (Yousefpour et al. 2021)",
    "https://opacus.ai/",
    "per-sample gradients and the RDP accountant",
)
RDP = Reference(
    "Mironov 2017, Rényi differential privacy (CSF)", "https://arxiv.org/abs/1702.07476", "the accountant"
)
SAMPLED_GAUSSIAN = Reference(
    "Mironov, Talwar, Zhang 2019, Rényi differential privacy of the sampled Gaussian mechanism",
    "https://arxiv.org/abs/1908.10530",
    "DP-SGD's epsilon for Poisson-sampled steps",
)
DISCRETE = Reference(
    "Canonne, Kamath, Steinke 2020, The discrete Gaussian for differential privacy (NeurIPS)",
    "https://arxiv.org/abs/2004.00010",
    "integer noise on counts (discrete mechanisms)",
)
DATASHEETS = Reference(
    "Gebru et al. 2021, Datasheets for datasets (CACM)",
    "https://arxiv.org/abs/1803.09010",
    "the data card",
)

#: Each stage page's references when it sets none of its own.
_BY_STAGE: dict[str, tuple[Reference, ...]] = {
    "index": (SDMETRICS, DOMIAS, ANONYMETER, TABSYN),
    "validate": (SDMETRICS, C2ST, EFFICACY, KYNKAANNIEMI, TABSYN),
    "attack": (DOMIAS, LOGAN, CARLINI, HANLEY_MCNEIL, ANONYMETER, ANONYMETER_DOCS, TABSYN, JAGIELSKI),
    "export": (DATASHEETS,),
}
_GENERATOR: dict[str, tuple[Reference, ...]] = {
    "gan": (CTGAN,),
    "vae": (CTGAN,),
    "diffusion": (TABDDPM,),
    "marginal": (AIM,),
    "autoregressive": (TABULAR_ARGN,),
}


def for_page(stage: str) -> tuple[Reference, ...]:
    """The references of the page of ``stage`` (``index`` for the run's front page); none when unknown."""
    return _BY_STAGE.get(stage, ())


def for_training(
    generator: str, private: bool, mechanisms: frozenset[str] = frozenset()
) -> tuple[Reference, ...]:
    """The train page's references: the generator's paper, and for a DP run its mechanisms and accountant.

    ``mechanisms`` are the ledger's mechanism names (``subsampled gaussian (DP-SGD)``, ``discrete
    laplace`` ...): each kind present adds its reference.
    """
    out = list(_GENERATOR.get(generator, ()))
    if not private:
        return tuple(out)
    text = " ".join(mechanisms).casefold()
    if "dp-sgd" in text or ("gaussian" in text and "sampl" in text):
        out += [DPSGD, OPACUS, RDP, SAMPLED_GAUSSIAN]
    if generator == "marginal" or "zcdp" in text or "marginal" in text:
        out += [ZCDP]
    if "discrete" in text:
        out.append(DISCRETE)
    return tuple(dict.fromkeys(out))

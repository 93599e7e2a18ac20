"""The ledger read back from a run folder: `PrivacyLedger.from_dict` / `from_claim` refuse what
`to_dict` could not have written, with a line naming the key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from synthpriv.privacy.ledger import LedgerError, LedgerField, PrivacyLedger, Release


def _ledger() -> PrivacyLedger:
    ledger = PrivacyLedger(epsilon=3.0, delta=1e-5)
    ledger.charge(Release("quantile map of 'age' (histogram)", "discrete laplace", 0.15, noise=1 / 0.15))
    ledger.charge(
        Release("VAE weights (DP-SGD)", "subsampled gaussian (DP-SGD)", 2.8, 9e-6, 1.3, 0.3, steps=900)
    )
    return ledger


def test_a_ledger_round_trips_through_json() -> None:
    ledger = _ledger()
    assert PrivacyLedger.from_dict(json.loads(json.dumps(ledger.to_dict()))) == ledger
    assert PrivacyLedger.from_claim(json.loads(json.dumps(ledger.to_claim()))) == ledger
    assert PrivacyLedger.from_claim({"differential_privacy": False}) is None


def _broken(edit: Any) -> dict[str, Any]:
    raw = _ledger().to_dict()
    edit(raw)
    return raw


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        (lambda r: r.update(budget=3), "budget"),
        (lambda r: r["budget"].update(epsilon="3"), "budget.epsilon"),
        (lambda r: r["budget"].update(epsilon=True), "budget.epsilon"),
        (lambda r: r.update(releases={}), "releases"),
        (lambda r: r["releases"][0].update(epsilon=float("nan")), "releases[0].epsilon"),
        (lambda r: r["releases"][1].pop("mechanism"), "releases[1].mechanism"),
        (lambda r: r["releases"][1].update(steps=-1), "releases[1].steps"),
        (lambda r: r["releases"][1].update(extra=1), "releases[1] has unknown key"),
        (lambda r: r["releases"][1].update(epsilon=-0.5), "releases[1]"),
        (lambda r: r["budget"].update(epsilon=1.0), "more epsilon than its budget"),
        (lambda r: r["spent"].update(epsilon=0.1), "spent.epsilon"),
    ],
)
def test_a_malformed_ledger_is_refused_naming_the_key(edit: Any, names: str) -> None:
    with pytest.raises(LedgerError, match="^privacy ledger: ") as raised:
        PrivacyLedger.from_dict(_broken(edit))
    assert names in str(raised.value) and "\n" not in str(raised.value)


def test_a_claim_without_a_boolean_flag_is_refused() -> None:
    with pytest.raises(LedgerError, match="differential_privacy"):
        PrivacyLedger.from_claim({"differential_privacy": "yes", **_ledger().to_dict()})
    with pytest.raises(LedgerError, match="privacy.json"):
        PrivacyLedger.from_claim([])


class _Summary(BaseModel):
    privacy: LedgerField | None = None


def test_a_summary_field_reads_the_ledger_typed_and_writes_the_same_json() -> None:
    raw = _ledger().to_dict()
    summary = _Summary.model_validate({"privacy": raw})
    assert summary.privacy == _ledger()
    assert summary.model_dump(mode="json") == {"privacy": raw}
    with pytest.raises(ValidationError, match="budget"):
        _Summary.model_validate({"privacy": {"spent": 3, "releases": []}})

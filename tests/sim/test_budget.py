"""Error-budget arithmetic on hand-computed cases: occurrences and timeslices, rolling and calendar
windows, a budget partly spent before the run, burn rate and time to exhaustion."""

from __future__ import annotations

import pytest

from scenarios.schema import SLO
from sim.slo import SLOTracker

DAY = 86400.0
MONTH = 30 * DAY


def tracker(ticks: int, rps: float = 100.0, bad: dict[tuple[int, int], float] | None = None, **slo) -> SLOTracker:
    """One SLO on service web, 1-second ticks, ``rps`` valid events per tick; ``bad`` maps tick
    ranges [a, b) to the share of bad events there."""
    spec = {"name": "avail", "service": "web", "target": 99.9, **slo}
    t = SLOTracker([SLO.model_validate(spec)], {"web": 0}, ticks, 1.0)
    t.valid[0] = rps
    t.good[0] = rps
    for (a, b), share in (bad or {}).items():
        t.good[0, a:b] = rps * (1 - share)
    return t


def test_occurrences_with_budget_spent_before_the_run():
    """1 h at 100 rps, 10 % errors for 10 minutes, in a 30-day window that had 40 % spent already.
    The run spends 6,000 bad of a window budget of 0.001 x 100/s x 30 d = 259,200: 2.31 %; the earlier
    spend, spread over the 30 days before, ages out by 1 h / 30 d."""
    t = tracker(3600, bad={(600, 1200): 0.10}, initial_budget_remaining=60)
    assert t.budget_remaining(0, 0) == pytest.approx(0.60)
    assert t.budget_remaining(0) == pytest.approx(1 - 0.4 * (1 - 3600 / MONTH) - 6000 / 259200)
    assert t.budget_remaining(0) == pytest.approx(0.577407, abs=1e-6)
    # before the errors only the ageing moved: 0.4 x 600 s / 30 d
    assert t.budget_remaining(0, 600) == pytest.approx(0.6 + 0.4 * 600 / MONTH)
    [s] = t.summary(3600)
    assert s["budget_remaining"] == pytest.approx(0.577407, abs=1e-6)
    assert s["attainment"] == pytest.approx(1 - 6000 / 360000)


def test_calendar_period_ends_during_the_run_and_the_budget_starts_afresh():
    """The run starts 1 h before the month ends with 10 % of the budget left; 30 minutes of total
    outage spend 180,000 bad of 259,200: the month ends at -59 %, the next one starts whole."""
    t = tracker(7200, bad={(0, 1800): 1.0}, calendar={"period": "month", "elapsed": "719h"},
                initial_budget_remaining=10)
    assert t.slos[0].window == MONTH
    assert t.budget_remaining(0, 1800) == pytest.approx(0.10 - 180000 / 259200)
    assert t.budget_remaining(0, 3600) == pytest.approx(0.10 - 180000 / 259200)  # the month's last instant
    assert t.budget_remaining(0, 3601) == pytest.approx(1.0)
    assert t.budget_remaining(0) == pytest.approx(1.0)


def test_calendar_spend_does_not_age_out_but_rolling_spend_does():
    cal = tracker(6 * 3600, calendar={"period": "week", "elapsed": "2d"}, initial_budget_remaining=50)
    rolling = tracker(6 * 3600, window="7d", initial_budget_remaining=50)
    assert cal.budget_remaining(0) == pytest.approx(0.5)
    assert rolling.budget_remaining(0) == pytest.approx(1 - 0.5 * (7 * DAY - 6 * 3600) / (7 * DAY))


def test_timeslices_count_bad_slices_against_a_slice_budget():
    """1-minute slices, good at >= 95 % good events; 99 % of a day's 1,440 slices: 14.4 bad slices
    allowed. Slice 2 at 10 % errors is bad; 4 % and exactly 5 % errors are still good slices."""
    t = tracker(630, bad={(120, 180): 0.10, (300, 360): 0.04, (420, 480): 0.05}, target=99, window="1d",
                budgeting="timeslices", timeslice_window="1m", timeslice_target=95)
    assert t.units(0, 0, 630) == (1.0, 10.0)  # the 11th slice is not complete
    [s] = t.summary(630)
    assert s["attainment"] == pytest.approx(0.9)
    assert s["budget_remaining"] == pytest.approx(1 - 1 / 14.4)
    assert t.burn_rate(0, 0, 600) == pytest.approx(0.1 / 0.01)
    # the bad slice lands when it completes
    assert t.budget_remaining(0, 179) == pytest.approx(1.0)
    assert t.budget_remaining(0, 180) == pytest.approx(1 - 1 / 14.4)
    # occurrences would have counted 600 + 240 + 300 bad events instead
    occ = tracker(600, bad={(120, 180): 0.10, (300, 360): 0.04, (420, 480): 0.05}, target=99, window="1d")
    assert occ.units(0, 0, 600) == pytest.approx((1140.0, 60000.0))


def test_time_to_exhaustion_at_the_last_hours_burn_rate():
    """1 % errors for the last hour burn at 10x: 3,600 bad of 259,200 spent, and what is left goes in
    remaining x 30 d / 10."""
    t = tracker(7200, bad={(3600, 7200): 0.01})
    remaining = 1 - 3600 / 259200
    [s] = t.summary(7200)
    assert s["burn_rate"] == pytest.approx(10.0)
    assert s["time_to_exhaustion"] == pytest.approx(remaining * MONTH / 10)
    assert s["time_to_exhaustion"] / DAY == pytest.approx(2.958, abs=1e-3)
    assert tracker(600).summary(600)[0]["time_to_exhaustion"] is None  # nothing burns
    spent = tracker(600, initial_budget_remaining=0, bad={(0, 600): 0.5}).summary(600)[0]
    assert spent["time_to_exhaustion"] == 0.0 and spent["budget_remaining"] < 0


@pytest.mark.parametrize("spec,message", [
    ({"budgeting": "timeslices"}, "timeslice_window"),
    ({"timeslice_window": "1m"}, "go with budgeting: timeslices"),
    ({"calendar": {"period": "fortnight"}}, "not a calendar period"),
    ({"calendar": {"period": "week", "elapsed": "8d"}}, "shorter than the period"),
    ({"calendar": {"period": "week"}, "window": "30d"}, "window is its period"),
    ({"initial_budget_remaining": 120}, "less than or equal to 100"),
])
def test_bad_slo_specs_say_what_to_write(spec, message):
    with pytest.raises(ValueError, match=message):
        SLO.model_validate({"name": "a", "service": "web", "target": 99.9, **spec})


WEB = {"name": "one", "services": {"web": {"entrypoint": True, "replicas": 3, "concurrency": 8,
                                           "service_time": {"mean": "10ms"}}}}


@pytest.mark.parametrize("engine", ["flow", "request"])
def test_a_run_reports_budget_from_a_calendar_timeslice_slo(run_sim, engine, result_contract):
    """10 minutes at 50 rps, web failing entirely from 2m to 4m: two bad 1-minute slices of a week's
    10,080 x 0.1 % = 10.08, the week already 30 % spent and it stays spent (calendar)."""
    run = run_sim(WEB, duration="10m", engine=engine, workload={"rate": {"pattern": "constant", "rps": 50}},
                  slos=[{"name": "slices", "service": "web", "target": 99.9, "calendar": {"period": "week"},
                         "budgeting": "timeslices", "timeslice_window": "1m", "timeslice_target": 99,
                         "initial_budget_remaining": 70},
                        {"name": "events", "service": "web", "target": 99.9, "window": "7d"}],
                  faults=[{"at": "2m", "kind": "error-rate", "service": "web", "rate": 1.0, "duration": "2m"}])
    result_contract(run.result, exact=True)
    slices, events = run.result["slos"]
    assert slices["attainment"] == pytest.approx(0.8)
    assert slices["budget_remaining"] == pytest.approx(0.7 - 2 / 10.08)
    # by events: a fifth of the run's requests failed, 0.2 / 0.001 x 10 m / 7 d
    assert 1 - events["budget_remaining"] == pytest.approx(200 * 600 / (7 * DAY), rel=0.02)
    # the current burn rate looks back an hour, here the whole run: a fifth failed, 0.2 / 0.001
    assert events["burn_rate"] == pytest.approx(200, rel=0.02)
    assert events["time_to_exhaustion"] == pytest.approx(events["budget_remaining"] * 7 * DAY / events["burn_rate"])

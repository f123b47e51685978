"""The rota: weekly shifts made concrete, with leave, sickness, extra shifts,
swaps, public holidays and remote hotliners; across midnight and DST."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agents.config import AgentId, load_hotliners
from agents.rota import Changes, Duty, HolidayCalendar, Roster, parse_changes
from agents.shifts import parse_shift
from core.errors import ConfigError

PARIS = ZoneInfo("Europe/Paris")
MONTREAL = ZoneInfo("America/Montreal")


def at(text: str, tz: ZoneInfo = PARIS) -> datetime:
    """A local wall-clock instant, e.g. '2027-03-28 01:30'."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def roster(
    weekly: str | list[str],
    changes: list[str] | None = None,
    *,
    tz: ZoneInfo = PARIS,
    on_holidays: bool = False,
    holidays: HolidayCalendar | None = None,
    others: dict[str, Duty] | None = None,
) -> Roster:
    shifts = [weekly] if isinstance(weekly, str) else weekly
    duty = Duty(
        weekly=tuple(parse_shift(s) for s in shifts),
        tz=tz,
        changes=parse_changes(changes or []),
        on_holidays=on_holidays,
    )
    return Roster({"nina": duty, **(others or {})}, holidays)


def test_a_night_shift_runs_past_midnight_and_belongs_to_the_day_it_starts() -> None:
    night = roster("fri 22:00-06:00")
    assert night.on_shift("nina", at("2026-12-04 23:30"))  # Friday night
    assert night.on_shift("nina", at("2026-12-05 05:59"))  # Saturday morning
    assert not night.on_shift("nina", at("2026-12-05 06:00"))
    assert not night.on_shift("nina", at("2026-12-04 05:00"))  # Thursday's night
    assert night.until("nina", at("2026-12-04 23:30")) == at("2026-12-05 06:00")


def test_the_night_clocks_go_forward_a_night_shift_lasts_seven_hours() -> None:
    # Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST in Europe/Paris.
    night = roster("sat 22:00-06:00")
    spans = night.intervals("nina", at("2026-03-28 12:00"), at("2026-03-29 12:00"))
    assert spans == [(utc("2026-03-28 21:00"), utc("2026-03-29 04:00"))]
    assert spans[0][1] - spans[0][0] == timedelta(hours=7)
    assert night.on_shift("nina", at("2026-03-29 03:30"))


def test_the_night_clocks_go_back_a_night_shift_lasts_nine_hours() -> None:
    # Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET.
    night = roster("sat 22:00-06:00")
    spans = night.intervals("nina", at("2026-10-24 12:00"), at("2026-10-25 12:00"))
    assert spans == [(utc("2026-10-24 20:00"), utc("2026-10-25 05:00"))]
    assert spans[0][1] - spans[0][0] == timedelta(hours=9)
    # Both 02:30s of that night (before and after the change) are on shift.
    first = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=0)
    second = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1)
    assert first.astimezone(UTC) != second.astimezone(UTC)
    assert night.on_shift("nina", first)
    assert night.on_shift("nina", second)


def test_round_the_clock_days_are_23_and_25_hours_long_on_dst_days() -> None:
    always = roster("daily 00:00-00:00")
    spring = always.intervals("nina", at("2026-03-29 00:00"), at("2026-03-30 00:00"))
    assert spring == [(utc("2026-03-28 23:00"), utc("2026-03-29 22:00"))]
    assert spring[0][1] - spring[0][0] == timedelta(hours=23)
    # Round the clock: the stretch "ends" at the horizon the sweep moves on.
    assert always.until("nina", at("2026-03-29 12:00")) == utc("2026-04-06 10:00")
    one_day = roster("sun 00:00-00:00")
    (span,) = one_day.intervals("nina", at("2026-10-25 00:00"), at("2026-10-26 00:00"))
    assert span[1] - span[0] == timedelta(hours=25)


def test_back_to_back_shifts_read_as_one_stretch() -> None:
    two = roster(["mon 07:00-15:00", "mon 15:00-23:00"])
    assert two.until("nina", at("2026-11-30 08:00")) == at("2026-11-30 23:00")


def test_a_leave_and_a_sick_day_take_the_shifts_of_those_days_away() -> None:
    week = roster(
        "mon-fri 08:00-16:00",
        ["leave 2026-12-21..2026-12-23", "sick 2026-12-03"],
    )
    assert not week.on_shift("nina", at("2026-12-03 10:00"))  # sick
    assert week.on_shift("nina", at("2026-12-04 10:00"))
    assert not week.on_shift("nina", at("2026-12-21 10:00"))  # leave, first day
    assert not week.on_shift("nina", at("2026-12-23 10:00"))  # leave, last day
    assert week.on_shift("nina", at("2026-12-24 10:00"))


def test_an_extra_shift_is_worked_on_its_date_only() -> None:
    week = roster("mon-fri 08:00-16:00", ["extra 2026-12-05 09:00-13:00"])
    assert week.on_shift("nina", at("2026-12-05 12:59"))  # a Saturday
    assert not week.on_shift("nina", at("2026-12-05 13:00"))
    assert not week.on_shift("nina", at("2026-12-12 10:00"))  # the next Saturday


def test_a_swap_gives_each_the_others_shifts_that_day_written_on_one_side() -> None:
    omar = Duty(weekly=(parse_shift("mon-fri 14:00-22:00"),), tz=PARIS)
    both = roster(
        "mon-fri 06:00-14:00", ["swap 2026-12-07 with omar"], others={"omar": omar}
    )
    monday = "2026-12-07"
    assert both.on_shift("nina", at(f"{monday} 15:00"))
    assert not both.on_shift("nina", at(f"{monday} 07:00"))
    assert both.on_shift("omar", at(f"{monday} 07:00"))
    assert not both.on_shift("omar", at(f"{monday} 15:00"))
    assert both.on_shift("nina", at("2026-12-08 07:00"))  # Tuesday as usual
    assert both.partner("omar", date(2026, 12, 7)) == "nina"


def test_french_public_holidays_stop_weekly_shifts_unless_worked() -> None:
    france = HolidayCalendar(countries=("FR",))
    assert date(2027, 3, 29) in france  # Easter Monday 2027, Easter-based
    assert date(2026, 7, 14) in france
    assert date(2026, 7, 15) not in france
    week = roster("mon-fri 08:00-16:00", holidays=france)
    assert not week.on_shift("nina", at("2027-03-29 10:00"))
    assert week.on_shift("nina", at("2027-03-30 10:00"))
    worked = roster("mon-fri 08:00-16:00", holidays=france, on_holidays=True)
    assert worked.on_shift("nina", at("2027-03-29 10:00"))
    own = HolidayCalendar(dates=frozenset({date(2026, 12, 24)}))
    assert not roster("daily 08:00-16:00", holidays=own).on_shift(
        "nina", at("2026-12-24 10:00")
    )


def test_a_remote_hotliner_works_their_own_wall_clock_hours() -> None:
    remote = roster("mon-fri 09:00-17:00", tz=MONTREAL)
    # 09:00 in Montreal (UTC-5 in December) is 15:00 in Paris.
    assert remote.on_shift("nina", at("2026-12-07 15:00"))
    assert not remote.on_shift("nina", at("2026-12-07 14:59"))
    assert remote.until("nina", at("2026-12-07 16:00")) == at(
        "2026-12-07 17:00", MONTREAL
    )


def test_last_end_says_when_the_latest_shift_ended() -> None:
    week = roster("mon-fri 08:00-16:00")
    assert week.last_end("nina", at("2026-12-07 17:00")) == at("2026-12-07 16:00")
    assert week.last_end("nina", at("2026-12-07 10:00")) is None  # on shift


@pytest.mark.parametrize(
    "line",
    [
        "holiday 2026-12-03",
        "leave 2026-12-10..2026-12-01",
        "sick 2026-02-30",
        "extra 2026-12-05 9h-13h",
        "swap 2026-12-07 omar",
    ],
)
def test_a_malformed_exception_is_refused_with_a_reason(line: str) -> None:
    with pytest.raises(ValueError, match="exception"):
        parse_changes([line])


def test_hotliners_yaml_exceptions_are_read_and_errors_name_the_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hotliners.yaml"
    path.write_text(
        """hotliners:
  - id: nina
    name: Nina
    endpoint: "client:nina"
    skills: {email: 2}
    shifts: ["mon-fri 08:00-16:00"]
    timezone: America/Montreal
    on_holidays: true
    exceptions: ["sick 2026-12-03", "swap 2026-12-07 with omar"]
  - id: omar
    name: Omar
    endpoint: "client:omar"
    skills: {email: 2}
    shifts: ["mon-fri 14:00-22:00"]
""",
        encoding="utf-8",
    )
    nina = load_hotliners(path, {"email"}, ("fr-FR",))[AgentId("nina")]
    assert nina.timezone == MONTREAL
    assert nina.on_holidays
    assert nina.changes == Changes(
        off=frozenset({date(2026, 12, 3)}), swaps={date(2026, 12, 7): "omar"}
    )
    path.write_text(
        path.read_text(encoding="utf-8").replace("with omar", "with zoe"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        load_hotliners(path, {"email"}, ("fr-FR",))
    assert "hotliners.yaml:9:" in str(refused.value)
    assert "zoe" in str(refused.value)
    path.write_text(
        path.read_text(encoding="utf-8").replace("America/Montreal", "Mars/Olympus"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="yaml:7: .*unknown timezone"):
        load_hotliners(path, {"email"}, ("fr-FR",))


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("{min_priority: 12}", "min_priority is a caller priority, 0 to 9"),
        ("{incident: yes-please}", "incident is true or false"),
        ("{}", "needs min_priority or incident: true"),
        ("{min_priority: 5, queues: [network]}", "unknown key"),
    ],
)
def test_a_malformed_on_call_rule_names_its_line(
    tmp_path: Path, rule: str, reason: str
) -> None:
    path = tmp_path / "hotliners.yaml"
    path.write_text(
        f"""hotliners:
  - id: yann
    name: Yann
    endpoint: "+33612345678"
    skills: {{email: 5}}
    shifts: ["daily 20:00-08:00"]
    on_call: {rule}
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        load_hotliners(path, {"email"}, ("fr-FR",))
    assert "hotliners.yaml:7:" in str(refused.value)
    assert reason in str(refused.value)


def test_on_duty_says_what_on_shift_says_for_a_whole_team_across_a_dst_week() -> None:
    """`on_duty` keeps its answer until a stretch starts or ends: asked every
    7 minutes over a week with a clock change (in random order, so answers
    kept are asked out of turn too), it names exactly those `on_shift` does."""
    shifts = [
        "mon-fri 08:00-16:00",
        "mon-fri 16:00-00:00",
        "sat-sun 22:00-06:00",
        "mon-sun 00:00-00:00",
        "tue,thu 09:30-12:15",
        "mon-fri 13:00-21:00",
    ]
    team: dict[str, Duty] = {}
    for n, shift in enumerate(shifts):
        for tz in (PARIS, MONTREAL):
            team[f"h{n}-{tz.key[-4:]}"] = Duty(
                weekly=(parse_shift(shift),),
                tz=tz,
                changes=parse_changes(
                    ["sick 2027-03-29", "extra 2027-03-27 03:00-05:00"]
                )
                if n % 3 == 0
                else Changes(),
            )
    rota = Roster(team)
    ids = tuple(team)
    start = utc("2027-03-25 00:00")  # Paris's clocks go forward on the 28th
    moments = [start + timedelta(minutes=7 * k) for k in range(7 * 24 * 60 // 7)]
    moments += [utc("2027-03-28 01:00"), utc("2027-03-29 06:00")]  # on boundaries
    random.Random(15).shuffle(moments)
    for moment in moments[: len(moments) // 2] + sorted(moments):
        expected = tuple(a for a in ids if rota.on_shift(a, moment))
        assert rota.on_duty(ids, moment) == expected, moment
    assert rota.on_duty(ids, utc("2027-03-25 10:00").astimezone(PARIS)) == tuple(
        a for a in ids if rota.on_shift(a, utc("2027-03-25 10:00"))
    )

"""``daix indices``, ``daix calendar`` and ``daix reviews`` (SPEC §4.1, §5) through CliRunner."""

from __future__ import annotations

from click.testing import CliRunner

from daix.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def id_column(output: str) -> list[str]:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[0].split()[0] == "id"
    return [line.split()[0] for line in lines[1:]]


def test_indices_lists_all_fifty() -> None:
    result = run("indices")
    assert result.exit_code == 0, result.output
    ids = id_column(result.output)
    # SPEC §5: 3 Custom + 2 Select + 31 single + 6 real-time + 8 Grayscale = 50.
    assert len(ids) == 50 and len(set(ids)) == 50
    assert {"CUSTOM_TOP20", "SELECT10_EXBTC", "XRP_1700_CET", "SOL_RT_EUR",
            "GS_SCP_INVESTIBLE"} <= set(ids)
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:] if line.strip()}
    assert "hourly Sun 22:00-Fri 22:00 UTC" in rows["BTC_UTC"]
    assert "daily 16:00 America/New_York" in rows["SELECT10"]
    assert "daily 10:00 UTC" in rows["CUSTOM_TOP20"]
    assert "cap 40%" in rows["CUSTOM_TOP20"]
    assert "daily 16:00 Asia/Hong_Kong" in rows["ETH_1H_4PM_HKT"]
    assert "realtime 15s" in rows["BTC_RT_EUR"] and rows["BTC_RT_EUR"].rstrip().endswith("EUR")


def test_indices_family_filter() -> None:
    result = run("indices", "--family", "grayscale")
    assert result.exit_code == 0, result.output
    ids = id_column(result.output)
    # SPEC §5: five sector indices, Total, Total Cap and SCP Investible.
    assert len(ids) == 8 and all(i.startswith("GS_") for i in ids)
    assert len(id_column(run("indices", "-f", "custom").output)) == 3
    assert len(id_column(run("indices", "-f", "select").output)) == 2


def test_indices_bad_family() -> None:
    result = run("indices", "--family", "bonds")
    assert result.exit_code != 0
    assert "unknown family 'bonds'" in result.output
    assert "Traceback" not in result.output


def test_calendar_btc_4pm_et_across_us_switch() -> None:
    # 16:00 New York: Fri 2024-03-08 EST = 21Z; no Saturday; Sun 03-10 (switch day) EDT = 20Z.
    result = run("calendar", "BTC_4PM_ET", "--start", "2024-03-08", "--end", "2024-03-12")
    assert result.exit_code == 0, result.output
    assert result.output.split() == [
        "2024-03-08T21:00:00Z",
        "2024-03-10T20:00:00Z",
        "2024-03-11T20:00:00Z",
        "2024-03-12T20:00:00Z",  # bare --end date covers the whole day
    ]


def test_calendar_end_instant_and_case() -> None:
    # An explicit --end instant is inclusive, nothing after it; the id is case-insensitive.
    result = run("calendar", "btc_4pm_et", "--start", "2024-03-11T00:00:00Z",
                 "--end", "2024-03-11T20:00:00Z")
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["2024-03-11T20:00:00Z"]
    result = run("calendar", "BTC_4PM_ET", "--start", "2024-03-11T00:00:00Z",
                 "--end", "2024-03-11T19:59:59Z")
    assert result.exit_code == 0 and result.output.strip() == ""


def test_calendar_hourly_flag_and_hourly_index() -> None:
    # --hourly: every whole UTC hour, Saturday 2024-03-09 included: 24 lines 00..23.
    result = run("calendar", "BTC_4PM_ET", "--start", "2024-03-09", "--end", "2024-03-09",
                 "--hourly")
    assert result.exit_code == 0, result.output
    assert result.output.split() == [f"2024-03-09T{h:02d}:00:00Z" for h in range(24)]
    # The official BTC_UTC calendar has nothing on that Saturday.
    result = run("calendar", "BTC_UTC", "--start", "2024-03-09", "--end", "2024-03-09")
    assert result.exit_code == 0 and result.output.strip() == ""
    # Sunday 2024-03-10: opens 22:00 UTC, so 22:00 and 23:00 only.
    result = run("calendar", "BTC_UTC", "--start", "2024-03-10", "--end", "2024-03-10")
    assert result.output.split() == ["2024-03-10T22:00:00Z", "2024-03-10T23:00:00Z"]


def test_calendar_errors() -> None:
    result = run("calendar", "BTC_NOPE", "--start", "2024-03-08", "--end", "2024-03-12")
    assert result.exit_code != 0
    assert "unknown index id 'BTC_NOPE'" in result.output
    result = run("calendar", "BTC_UTC", "--start", "2024-03-08", "--end", "2024-03-01")
    assert result.exit_code != 0 and "before --start" in result.output
    result = run("calendar", "BTC_UTC", "--start", "yesterday", "--end", "2024-03-01")
    assert result.exit_code != 0 and "yesterday" in result.output
    assert "Traceback" not in result.output


def test_calendar_help_documents_bare_end_date() -> None:
    result = run("calendar", "--help")
    assert result.exit_code == 0
    assert "end of that day" in result.output


def test_reviews_select_shows_both_schedules() -> None:
    result = run("reviews", "select", "--start", "2021-01-01", "--end", "2022-12-31")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split("\t") == ["month", "kind", "cutoff", "review_prices", "close",
                                    "effective"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    # January 2021's review prices (Wed 2020-12-30) precede --start, so it is not listed.
    # Old schedule Apr/Jul/Oct 2021 and Jan 2022; new Mar/Jun/Sep/Dec 2022; no Apr 2022.
    assert list(rows) == ["2021-04", "2021-07", "2021-10", "2022-01",
                          "2022-03", "2022-06", "2022-09", "2022-12"]
    # October 2021 (old): prices Wed 09-29 16:00 EDT = 20Z, cut-off 09-30 22Z,
    # C = 2nd Friday 10-08 20Z, E = Sunday 10-10 20Z.
    assert rows["2021-10"] == ["2021-10", "review", "2021-09-30T22:00:00Z",
                               "2021-09-29T20:00:00Z", "2021-10-08T20:00:00Z",
                               "2021-10-10T20:00:00Z"]
    # March 2022 (new): first Friday 03-04, prices Wed 03-09 16:00 EST = 21Z, cut-off
    # 02-28 22Z, third Friday 03-18 16:00 EDT = 20Z (US switch Sun 03-13), E Sun 03-20 20Z.
    assert rows["2022-03"] == ["2022-03", "review", "2022-02-28T22:00:00Z",
                               "2022-03-09T21:00:00Z", "2022-03-18T20:00:00Z",
                               "2022-03-20T20:00:00Z"]


def test_reviews_custom_lists_resets() -> None:
    result = run("reviews", "custom", "--start", "2024-01-01", "--end", "2024-06-30")
    assert result.exit_code == 0, result.output
    kinds = [line.split("\t")[:2] for line in result.output.strip().splitlines()[1:]]
    assert kinds == [["2024-01", "reset"], ["2024-02", "reset"], ["2024-03", "review"],
                     ["2024-04", "reset"], ["2024-05", "reset"], ["2024-06", "review"]]


def test_reviews_bad_family() -> None:
    result = run("reviews", "ftse100", "--start", "2024-01-01", "--end", "2024-06-30")
    assert result.exit_code != 0
    assert "unknown family 'ftse100'" in result.output

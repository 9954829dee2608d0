from datetime import UTC, datetime, timedelta, timezone

import pytest

from connector.config import Secret, TraedeSettings, WarehouseSettings, XeroSettings
from connector.errors import ConfigError, SourceError, redact_url
from connector.sources.traede.filters import Filter, FilterGroup, encode_filter_groups, format_utc


def test_filter_groups_encode_to_bruno_bracket_notation() -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    end = datetime(2024, 6, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    pairs = encode_filter_groups(
        [
            FilterGroup((Filter("updated_at", "gte", start), Filter("created_at", "lt", end))),
            FilterGroup((Filter("created_at", "bt", (start, end), negate=True),), any_of=True),
        ]
    )
    assert pairs == [
        ("filter_groups[0][filters][0][key]", "updated_at"),
        ("filter_groups[0][filters][0][value]", "2024-05-01 00:00:00"),
        ("filter_groups[0][filters][0][operator]", "gte"),
        ("filter_groups[0][filters][1][key]", "created_at"),
        ("filter_groups[0][filters][1][value]", "2024-06-01 00:00:00"),
        ("filter_groups[0][filters][1][operator]", "lt"),
        ("filter_groups[0][or]", "false"),
        ("filter_groups[1][filters][0][key]", "created_at"),
        ("filter_groups[1][filters][0][value][0]", "2024-05-01 00:00:00"),
        ("filter_groups[1][filters][0][value][1]", "2024-06-01 00:00:00"),
        ("filter_groups[1][filters][0][operator]", "bt"),
        ("filter_groups[1][filters][0][not]", "true"),
        ("filter_groups[1][or]", "true"),
    ]


def test_filters_refuse_unfilterable_keys_and_bad_bt() -> None:
    with pytest.raises(ValueError, match="cannot filter"):
        Filter("total", "eq", datetime.now(UTC))
    with pytest.raises(ValueError, match="bt"):
        Filter("created_at", "bt", datetime.now(UTC))


def test_naive_datetimes_are_utc() -> None:
    assert format_utc(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02 03:04:05"  # noqa: DTZ001


def test_missing_traede_settings_name_the_variables() -> None:
    with pytest.raises(ConfigError) as err:
        TraedeSettings.from_env({"TRAEDE_API_TOKEN": "x"})
    assert "TRAEDE_APP_KEY" in str(err.value) and "TRAEDE_SYSTEM_ID" in str(err.value)
    assert err.value.exit_code == 2


def test_settings_hide_secrets_in_repr() -> None:
    s = TraedeSettings.from_env(
        {"TRAEDE_API_TOKEN": "tok-zz9", "TRAEDE_APP_KEY": "key-zz9", "TRAEDE_SYSTEM_ID": "erp"}
    )
    assert s.api_token.reveal() == "tok-zz9"
    assert "tok-zz9" not in repr(s) and "key-zz9" not in repr(s) and "tok-zz9" not in str(s)
    assert s.base_url == "https://api.traede.com" and s.http.verify_tls is True


def test_invalid_values_are_named_not_echoed() -> None:
    env = {"TRAEDE_API_TOKEN": "t", "TRAEDE_APP_KEY": "k", "TRAEDE_SYSTEM_ID": "s"}
    with pytest.raises(ConfigError, match="TRAEDE_PAGE_LIMIT"):
        TraedeSettings.from_env({**env, "TRAEDE_PAGE_LIMIT": "61"})
    with pytest.raises(ConfigError, match="TRAEDE_BASE_URL"):
        TraedeSettings.from_env({**env, "TRAEDE_BASE_URL": "ftp://x"})
    with pytest.raises(ConfigError) as err:
        WarehouseSettings.from_env({"DATABASE_URL": "mysql://u:hunter2@h/db"})
    assert "hunter2" not in str(err.value)


def test_xero_overlap_never_exceeds_a_day() -> None:
    env = {
        "XERO_CLIENT_ID": "c",
        "XERO_CLIENT_SECRET": "s",
        "CONNECTOR_CURSOR_OVERLAP_MINUTES": "1440",
    }
    assert XeroSettings.from_env(env).cursor_overlap == timedelta(days=1)
    with pytest.raises(ConfigError):
        XeroSettings.from_env({**env, "CONNECTOR_CURSOR_OVERLAP_MINUTES": "1441"})


def test_secret_equality_and_truthiness() -> None:
    assert Secret("a") == Secret("a") and not Secret("")
    assert "a" not in f"{Secret('a')}"


def test_source_error_redacts_and_cuts() -> None:
    err = SourceError(
        "traede",
        "invoices.export",
        "500",
        url="https://x/v10?access_token=s3cr3t&page=1",
        body="b" * 2000,
    )
    assert "s3cr3t" not in str(err) and len(err.body) <= 501
    assert redact_url("https://x?signature=abc&a=1") == "https://x?signature=***&a=1"

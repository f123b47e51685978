"""Settings from the environment: every bad value reported, each with a reason."""

from __future__ import annotations

import pytest

from core.errors import SettingsError
from core.settings import SIMULATOR_ACCOUNT_SID, Settings


def test_empty_environment_means_embedded_services_and_the_simulator() -> None:
    settings = Settings.from_env({})
    assert settings.simulated
    assert settings.redis_url is None
    assert settings.database_url is None
    assert settings.twilio_account_sid == SIMULATOR_ACCOUNT_SID
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("instance/hotline.sqlite3")


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {
                "REDIS_URL": "http://localhost:6379",
                "DATABASE_URL": "mysql://x",
                "TWILIO_ACCOUNT_SID": "ACnothex",
                "PUBLIC_BASE_URL": "hotline.example.org",
                "HOTLINE_CONFIG": "/no/such/folder",
                "HOTLINE_NUMBER": "0180000000",
            }
        )
    text = str(caught.value)
    for name in (
        "REDIS_URL",
        "DATABASE_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "PUBLIC_BASE_URL",
        "HOTLINE_CONFIG",
        "HOTLINE_NUMBER",
        "SECRET_KEY",
    ):
        assert name in text
    assert len(caught.value.problems) == 8


def test_real_credentials_require_a_secret_key() -> None:
    env = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "a" * 32}
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env(env)
    settings = Settings.from_env({**env, "SECRET_KEY": "s3cret"})
    assert not settings.simulated
    assert settings.twilio_api_base_url == "https://api.twilio.com"


def test_softphone_keys_and_proxies_are_checked() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {
                "TWILIO_API_KEY": "AK123",
                "HOTLINE_TRUSTED_PROXIES": "many",
            }
        )
    text = str(caught.value)
    assert "TWILIO_API_KEY and TWILIO_API_SECRET must be set together" in text
    assert "must be an API key sid starting with SK" in text
    assert "HOTLINE_TRUSTED_PROXIES='many'" in text
    fine = Settings.from_env({"HOTLINE_TRUSTED_PROXIES": "1"})
    assert fine.trusted_proxies == 1
    assert fine.twilio_api_key.startswith("SK")  # simulation signs its own


def test_the_feed_port_is_a_port() -> None:
    for bad in ("feed", "0", "70000"):
        with pytest.raises(SettingsError, match=f"FEED_PORT='{bad}'"):
            Settings.from_env({"FEED_PORT": bad})
    assert Settings.from_env({"FEED_PORT": "5001"}).feed_port == 5001
    assert Settings.from_env({}).feed_port is None


def test_the_event_stream_cap_is_a_number_of_events_in_range() -> None:
    assert Settings.from_env({}).event_stream_max == 1_000_000
    fine = Settings.from_env({"HOTLINE_EVENT_STREAM_MAX": "250000"})
    assert fine.event_stream_max == 250_000
    for bad in ("many", "-5", "100", "1e9", "1000000000"):
        with pytest.raises(SettingsError, match=f"HOTLINE_EVENT_STREAM_MAX='{bad}'"):
            Settings.from_env({"HOTLINE_EVENT_STREAM_MAX": bad})


def test_the_routing_redis_url_is_a_server_or_a_cluster() -> None:
    with pytest.raises(SettingsError, match="ROUTING_REDIS_URL='http://x'"):
        Settings.from_env({"ROUTING_REDIS_URL": "http://x"})
    cluster = Settings.from_env({"ROUTING_REDIS_URL": "redis+cluster://10.0.0.1:7000"})
    assert cluster.routing_redis_url == "redis+cluster://10.0.0.1:7000"
    assert cluster.redis_url is None  # RQ's: the embedded server
    shared = Settings.from_env({"REDIS_URL": "redis://10.0.0.2:6379/3"})
    assert shared.routing_redis_url == "redis://10.0.0.2:6379/3"


def test_offers_are_paced_to_twilios_default_cps_unless_told() -> None:
    real = {
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "t" * 32,
        "SECRET_KEY": "s",
    }
    assert Settings.from_env(real).calls_per_second == 1.0
    assert Settings.from_env({}).calls_per_second == 0.0  # the simulator
    raised = {**real, "TWILIO_CALLS_PER_SECOND": "12.5"}
    assert Settings.from_env(raised).calls_per_second == 12.5
    for bad in ("-1", "fast", "1e3", "20000"):
        with pytest.raises(SettingsError, match=f"TWILIO_CALLS_PER_SECOND='{bad}'"):
            Settings.from_env({"TWILIO_CALLS_PER_SECOND": bad})


def test_live_state_is_split_by_routing_group_only_when_asked() -> None:
    assert Settings.from_env({}).routing_groups == "one"
    split = Settings.from_env({"HOTLINE_ROUTING_GROUPS": "auto"})
    assert split.routing_groups == "auto"
    with pytest.raises(SettingsError, match="HOTLINE_ROUTING_GROUPS='teams'"):
        Settings.from_env({"HOTLINE_ROUTING_GROUPS": "teams"})

"""Settings: precedence, validation, and errors that name the setting and its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from omen.config import load_settings
from omen.errors import ConfigError


def test_embedded_defaults_need_no_file_and_no_environment():
    settings, warnings = load_settings(env={})
    assert (settings.host, settings.port, settings.data_dir) == ("127.0.0.1", 50051, Path("data"))
    assert settings.api_keys == ()
    assert warnings == []


def test_file_then_environment_then_flags(tmp_path):
    config = tmp_path / "omen.toml"
    config.write_text('port = 1111\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    settings, _ = load_settings(
        config_file=config,
        env={"OMEN_PORT": "2222", "OMEN_GRACE_PERIOD_S": "3.5"},
        overrides={"port": 3333, "host": None},
    )
    assert settings.port == 3333
    assert settings.host == "0.0.0.0"
    assert settings.grace_period_s == 3.5
    assert settings.log_level == "DEBUG"


def test_omen_config_names_the_file_when_no_flag_does(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("metrics_port = 0\n")
    settings, _ = load_settings(env={"OMEN_CONFIG": str(config)})
    assert settings.metrics_port == 0


def test_api_keys_are_comma_separated_in_the_environment_and_stay_secret():
    settings, _ = load_settings(env={"OMEN_API_KEYS": " key-one-1234 ,key-two-5678,, "})
    assert [k.get_secret_value() for k in settings.api_keys] == ["key-one-1234", "key-two-5678"]
    assert "key-one" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"OMEN_PORT": "http"},
            "setting 'port' (from environment variable OMEN_PORT): Input should be a valid integer",
        ),
        (
            {"OMEN_PORT": "65536"},
            "setting 'port' (from environment variable OMEN_PORT): Input should be less than or equal to 65535",
        ),
        (
            {"OMEN_LOG_FORMAT": "xml"},
            "setting 'log_format' (from environment variable OMEN_LOG_FORMAT)",
        ),
        ({"OMEN_MAX_EVENT_BYTES": "10"}, "setting 'max_event_bytes'"),
        (
            {"OMEN_API_KEYS": "has space1,ok-key-123"},
            "setting 'api_keys' (from environment variable OMEN_API_KEYS)",
        ),
    ],
)
def test_a_bad_value_names_the_setting_and_where_it_came_from(env, message):
    with pytest.raises(ConfigError) as error:
        load_settings(env=env)
    assert message in str(error.value)


def test_secrets_are_never_echoed_in_errors():
    with pytest.raises(ConfigError) as error:
        load_settings(env={"OMEN_API_KEYS": "short"})
    assert "short" not in str(error.value)


def test_every_problem_is_reported_at_once(tmp_path):
    config = tmp_path / "omen.toml"
    config.write_text("port = -1\ngrace_period_s = 1000\nunknown_thing = 1\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config_file=config, env={})
    problems = error.value.problems
    assert len(problems) == 3
    assert any(
        p.startswith(f"unknown setting 'unknown_thing' (from config file {config})")
        for p in problems
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("port = ", "not valid TOML")],
)
def test_an_unreadable_config_file_is_named(tmp_path, content, message):
    config = tmp_path / "omen.toml"
    if content is not None:
        config.write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        load_settings(config_file=config, env={})
    assert str(config) in str(error.value)


def test_unknown_omen_variables_are_warned_about_but_switches_are_not():
    _, warnings = load_settings(
        env={"OMEN_PROT": "1", "OMEN_REQUIRE_NATIVE": "1", "OMEN_NO_EXTENSIONS": "0", "HOME": "/"}
    )
    assert warnings == ["ignoring unknown environment variable OMEN_PROT"]

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


# -- kafka TLS and SASL ----------------------------------------------------------------------

SECRET = "hunter2-never-shown-9f3a"


def _kafka(tmp_path: Path, extra: str, kind: str = "kafka") -> Path:
    """A config file with one publisher `k` of `kind` plus the `extra` TOML lines."""
    config = tmp_path / "omen.toml"
    head = (
        'bootstrap_servers = "b:9093"\ntopic = "t"\n'
        if kind == "kafka"
        else 'url = "http://127.0.0.1:1/"\n'
    )
    config.write_text(f'[[publishers]]\nname = "k"\nkind = "{kind}"\n{head}{extra}')
    return config


def test_kafka_security_settings_are_optional_and_default_to_plaintext(tmp_path):
    settings, _ = load_settings(config_file=_kafka(tmp_path, ""), env={})
    (kafka,) = settings.publishers
    assert kafka.security_protocol == "plaintext"
    assert kafka.ssl_ca_location is None and kafka.sasl_mechanism is None


def test_kafka_tls_and_sasl_settings_load_and_their_secrets_stay_secret(tmp_path):
    config = _kafka(
        tmp_path,
        'security_protocol = "sasl_ssl"\nssl_ca_location = "/etc/omen/ca.pem"\n'
        'ssl_certificate_location = "/etc/omen/client.pem"\n'
        'ssl_key_location = "/etc/omen/client.key"\n'
        f'ssl_key_password = "{SECRET}"\nsasl_mechanism = "SCRAM-SHA-512"\n'
        f'sasl_username = "omen"\nsasl_password = "{SECRET}"\n',
    )
    settings, _ = load_settings(config_file=config, env={})
    (kafka,) = settings.publishers
    assert kafka.ssl_ca_location == Path("/etc/omen/ca.pem")
    assert kafka.sasl_password is not None and kafka.sasl_password.get_secret_value() == SECRET
    assert kafka.ssl_key_password is not None
    assert kafka.ssl_key_password.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'security_protocol = "sasl_ssl"\nsasl_mechanism = "PLAIN"\n',
            "kafka publisher 'k': security_protocol sasl_ssl needs sasl_username, sasl_password "
            "(sasl_mechanism, sasl_username and sasl_password go together)",
        ),
        (
            f'security_protocol = "sasl_plaintext"\nsasl_username = "u"\nsasl_password = "{SECRET}"\n',
            "kafka publisher 'k': security_protocol sasl_plaintext needs sasl_mechanism",
        ),
        (
            f'security_protocol = "ssl"\nsasl_username = "u"\nsasl_password = "{SECRET}"\n',
            "kafka publisher 'k': sasl_username, sasl_password need security_protocol "
            "sasl_plaintext or sasl_ssl (it is ssl)",
        ),
        (
            f'sasl_mechanism = "PLAIN"\nsasl_username = "u"\nsasl_password = "{SECRET}"\n',
            "kafka publisher 'k': sasl_mechanism, sasl_username, sasl_password need "
            "security_protocol sasl_plaintext or sasl_ssl (it is plaintext)",
        ),
        (
            'ssl_ca_location = "/etc/omen/ca.pem"\n',
            "kafka publisher 'k': ssl_ca_location needs security_protocol ssl or sasl_ssl "
            "(it is plaintext: the connection would not use TLS)",
        ),
        (
            'security_protocol = "ssl"\nssl_certificate_location = "/c.pem"\n',
            "kafka publisher 'k': ssl_certificate_location and ssl_key_location go together",
        ),
        (
            'security_protocol = "ssl"\nssl_key_location = "/c.key"\n',
            "kafka publisher 'k': ssl_certificate_location and ssl_key_location go together",
        ),
        (
            f'security_protocol = "ssl"\nssl_key_password = "{SECRET}"\n',
            "kafka publisher 'k': ssl_key_password needs ssl_key_location",
        ),
        ('security_protocol = "tls"\n', "Input should be 'plaintext', 'ssl', 'sasl_plaintext'"),
        (
            f'security_protocol = "sasl_ssl"\nsasl_mechanism = "GSSAPI"\nsasl_username = "u"\n'
            f'sasl_password = "{SECRET}"\n',
            "Input should be 'PLAIN', 'SCRAM-SHA-256' or 'SCRAM-SHA-512'",
        ),
    ],
)
def test_kafka_security_mistakes_name_the_publisher_and_fields_never_the_secret(
    tmp_path, extra, message
):
    config = _kafka(tmp_path, extra)
    with pytest.raises(ConfigError) as error:
        load_settings(config_file=config, env={})
    text = str(error.value)
    assert f"setting 'publishers' (from config file {config})" in text
    assert message in text
    assert SECRET not in text


@pytest.mark.parametrize("kind", ["webhook", "console"])
def test_kafka_security_settings_are_refused_on_other_publishers(tmp_path, kind):
    config = _kafka(tmp_path, f'security_protocol = "ssl"\nsasl_password = "{SECRET}"\n', kind=kind)
    with pytest.raises(ConfigError) as error:
        load_settings(config_file=config, env={})
    text = str(error.value)
    assert (
        f"{kind} publisher 'k': security_protocol, sasl_password apply to kafka publishers only"
    ) in text
    assert SECRET not in text

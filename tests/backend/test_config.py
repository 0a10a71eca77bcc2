"""Settings from the environment (pydantic-settings): defaults, the variable names, and a clear error naming
the variable for every bad value."""

from __future__ import annotations

import pytest

from backend.config import DEFAULT_DB_URL, ConfigError, Settings, from_env

# Bearer secrets are at least 32 characters (issue 13): a 31-character one is refused below.
READER, WRITER, TFTP_GATE = "reader-token-" + "r" * 20, "writer-token-" + "w" * 20, "tftp-gate-token-" + "g" * 16
VARIABLES = ("MALINA_DB_URL", "MALINA_PUBLIC_URL", "MALINA_TFTP_SERVER", "MALINA_ADMIN_READ_TOKEN",
             "MALINA_ADMIN_WRITE_TOKEN", "MALINA_KEA_CONTROL_URL", "MALINA_KEA_TIMEOUT_S", "MALINA_MAX_ATTEMPTS",
             "MALINA_TOKEN_TTL_S", "MALINA_LOOP_GUARD_COUNT", "MALINA_LOOP_GUARD_WINDOW_S",
             "MALINA_BOOT_LOCAL_METHOD", "MALINA_TFTP_GATE_TOKEN", "MALINA_KEA_STANDBY_CONTROL_URL",
             "MALINA_AGENT_MAX_BODY", "MALINA_AGENT_RATE_PER_S", "MALINA_AGENT_BURST", "MALINA_AGENT_RATE_PREFIX",
             "MALINA_HOOK_SECRET_FILE", "MALINA_MAX_INTERRUPTIONS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = from_env()
    assert settings == Settings(db_url=DEFAULT_DB_URL, public_url=None, tftp_server=None, read_token=None,
                                write_token=None, kea_control_url=None, kea_standby_control_url=None,
                                kea_timeout_s=1.0, max_attempts=3,
                                token_ttl_s=3600.0, loop_guard_count=5, loop_guard_window_s=600.0,
                                boot_local_method="opt66-zero+tftp-deny", tftp_gate_token=None)


def test_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("MALINA_DB_URL", "postgresql://malina@10.89.0.6:5432/malina"),
                        ("MALINA_PUBLIC_URL", "http://10.89.0.3:8080/"), ("MALINA_TFTP_SERVER", "10.89.0.4"),
                        ("MALINA_ADMIN_READ_TOKEN", READER), ("MALINA_ADMIN_WRITE_TOKEN", WRITER),
                        ("MALINA_KEA_CONTROL_URL", "http://10.89.0.2:8000"), ("MALINA_KEA_TIMEOUT_S", "0.5"),
                        ("MALINA_KEA_STANDBY_CONTROL_URL", "http://10.89.0.6:8000/"),
                        ("MALINA_MAX_ATTEMPTS", "5"), ("MALINA_TOKEN_TTL_S", "60"), ("MALINA_LOOP_GUARD_COUNT", "7"),
                        ("MALINA_LOOP_GUARD_WINDOW_S", "30"), ("MALINA_BOOT_LOCAL_METHOD", "tftp-deny"),
                        ("MALINA_TFTP_GATE_TOKEN", TFTP_GATE), ("MALINA_AGENT_MAX_BODY", "4096"),
                        ("MALINA_AGENT_RATE_PER_S", "2.5"), ("MALINA_AGENT_BURST", "9"),
                        ("MALINA_AGENT_RATE_PREFIX", "32"), ("MALINA_HOOK_SECRET_FILE", "/etc/malina/hook.secret"),
                        ("MALINA_MAX_INTERRUPTIONS", "4")):
        monkeypatch.setenv(name, value)
    settings = from_env()
    assert settings.model_dump() == {
        "db_url": "postgresql://malina@10.89.0.6:5432/malina", "public_url": "http://10.89.0.3:8080",
        "tftp_server": "10.89.0.4", "read_token": READER, "write_token": WRITER,
        "kea_control_url": "http://10.89.0.2:8000", "kea_standby_control_url": "http://10.89.0.6:8000",
        "kea_timeout_s": 0.5, "max_attempts": 5, "token_ttl_s": 60.0,
        "loop_guard_count": 7, "loop_guard_window_s": 30.0, "boot_local_method": "tftp-deny",
        "tftp_gate_token": TFTP_GATE, "agent_max_body": 4096, "agent_rate_per_s": 2.5, "agent_burst": 9,
        "agent_rate_prefix": 32, "hook_secret_file": "/etc/malina/hook.secret", "max_interruptions": 4}
    assert READER not in repr(settings) and TFTP_GATE not in repr(settings)  # tokens stay out of logs


def test_empty_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.setenv(name, "")
    assert from_env() == Settings()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MALINA_MAX_ATTEMPTS", "three", r"^MALINA_MAX_ATTEMPTS: .*valid integer.*'three'"),
    ("MALINA_MAX_ATTEMPTS", "0", r"^MALINA_MAX_ATTEMPTS: .*greater than or equal to 1"),
    ("MALINA_MAX_INTERRUPTIONS", "0", r"^MALINA_MAX_INTERRUPTIONS: .*greater than or equal to 1"),
    ("MALINA_LOOP_GUARD_COUNT", "100001", r"^MALINA_LOOP_GUARD_COUNT: .*less than or equal to 100000"),
    ("MALINA_KEA_TIMEOUT_S", "fast", r"^MALINA_KEA_TIMEOUT_S: .*valid number"),
    ("MALINA_TOKEN_TTL_S", "1", r"^MALINA_TOKEN_TTL_S: .*greater than or equal to 10"),
    ("MALINA_LOOP_GUARD_WINDOW_S", "1e9", r"^MALINA_LOOP_GUARD_WINDOW_S: .*less than or equal to 86400"),
    ("MALINA_PUBLIC_URL", "10.89.0.3:8080", r"^MALINA_PUBLIC_URL: must be an http\(s\) URL"),
    ("MALINA_KEA_CONTROL_URL", "ftp://10.89.0.2", r"^MALINA_KEA_CONTROL_URL: must be an http\(s\) URL"),
    ("MALINA_ADMIN_READ_TOKEN", "x" * 31, r"^MALINA_ADMIN_READ_TOKEN: .*at least 32 characters$"),
    ("MALINA_ADMIN_WRITE_TOKEN", "x" * 31, r"^MALINA_ADMIN_WRITE_TOKEN: .*at least 32 characters$"),
    ("MALINA_BOOT_LOCAL_METHOD", "pxe-off", r"^MALINA_BOOT_LOCAL_METHOD: .*'opt66-zero'.*'tftp-deny'.*'pxe-off'"),
    ("MALINA_TFTP_GATE_TOKEN", "x" * 31, r"^MALINA_TFTP_GATE_TOKEN: .*at least 32 characters$"),
])
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        from_env()


def test_tokens_must_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALINA_ADMIN_READ_TOKEN", "same-token-0123456789abcdef0123456")
    monkeypatch.setenv("MALINA_ADMIN_WRITE_TOKEN", "same-token-0123456789abcdef0123456")
    with pytest.raises(ConfigError, match="MALINA_ADMIN_READ_TOKEN and MALINA_ADMIN_WRITE_TOKEN must differ") as info:
        from_env()
    assert "same-token-0123456789abcdef0123456" not in str(info.value)


def test_the_gate_token_is_not_the_write_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALINA_ADMIN_WRITE_TOKEN", "same-token-0123456789abcdef0123456")
    monkeypatch.setenv("MALINA_TFTP_GATE_TOKEN", "same-token-0123456789abcdef0123456")
    with pytest.raises(ConfigError, match="MALINA_TFTP_GATE_TOKEN must not be the write token"):
        from_env()


def test_with_validates_and_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(tftp_server="10.89.0.4")
    monkeypatch.setenv("MALINA_MAX_ATTEMPTS", "9")
    assert settings.with_(public_url="http://b:1/").public_url == "http://b:1"
    assert settings.with_(public_url="http://b:1/").max_attempts == 3
    with pytest.raises(ConfigError, match="MALINA_MAX_ATTEMPTS"):
        settings.with_(max_attempts=0)


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="tftp_servr"):
        Settings(tftp_servr="10.89.0.4")  # type: ignore[call-arg]

"""Settings of the service, read from the environment with pydantic-settings (variables: backend/README.md).

Every variable is ``MALINA_<FIELD>`` except the admin tokens (``MALINA_ADMIN_READ_TOKEN``,
``MALINA_ADMIN_WRITE_TOKEN``). An empty variable counts as unset. A bad value is a ``ConfigError`` naming the
variable, raised at start-up.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from backend.decision import DEFAULT_METHOD, BootLocalMethod

DEFAULT_DB_URL = "sqlite:////var/lib/malina/malina.db"
ENV_PREFIX = "MALINA_"
# The URLs the backend hands out (option 224, the scenario's) are built from MALINA_PUBLIC_URL only: a request's
# Host header is the caller's to choose, so it must never decide where a board sends its install (issue 13).
PUBLIC_URL_MISSING = ("MALINA_PUBLIC_URL is not set (or --public-url): the base of the URLs handed out to the "
                      "boards, e.g. http://10.89.0.3:8080; the request's Host header is never used")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _http_url(value: str | None) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL like http://10.89.0.3:8080")
    return value.rstrip("/")


HttpUrl = Annotated[str | None, AfterValidator(_http_url)]
Token = Annotated[str | None, Field(min_length=32)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid",
                                      validate_by_name=True, validate_by_alias=True)

    db_url: str = DEFAULT_DB_URL
    public_url: HttpUrl = None  # base of the URLs handed out; required by create_app (PUBLIC_URL_MISSING)
    tftp_server: str | None = None  # option 66 for machines in install
    read_token: Token = Field(default=None, validation_alias="MALINA_ADMIN_READ_TOKEN", repr=False)
    write_token: Token = Field(default=None, validation_alias="MALINA_ADMIN_WRITE_TOKEN", repr=False)
    kea_control_url: HttpUrl = None
    # the standby of a Kea HA pair: its hook caches answers too, so every cache flush goes to both servers
    kea_standby_control_url: HttpUrl = None
    kea_timeout_s: float = Field(default=1.0, ge=0.05, le=30.0)
    max_attempts: int = Field(default=3, ge=1, le=100)
    # installs that start over mid-write (power cut, reset) before the machine goes to local and is flagged
    max_interruptions: int = Field(default=3, ge=1, le=100)
    token_ttl_s: float = Field(default=3600.0, ge=10.0, le=7 * 86400.0)
    loop_guard_count: int = Field(default=5, ge=1, le=100_000)  # more asks than this ...
    loop_guard_window_s: float = Field(default=600.0, ge=1.0, le=86400.0)  # ... within this window: flagged
    boot_local_method: BootLocalMethod = DEFAULT_METHOD  # the lab's; a machine may override it (admin API)
    # bearer token of the TFTP gate (GET /v1/tftp/gate), the one secret the TFTP server holds
    tftp_gate_token: Token = Field(default=None, repr=False)
    # the agent routes (unauthenticated by design): largest request body, and each port's request rate
    agent_max_body: int = Field(default=65536, ge=1024, le=16 * 2**20)
    agent_rate_per_s: float = Field(default=50.0, gt=0.0, le=100_000.0)
    agent_burst: int = Field(default=200, ge=1, le=1_000_000)
    agent_rate_prefix: int = Field(default=24, ge=8, le=32)  # a port = the caller's /prefix network
    # file holding the Kea hook's bearer secret (backend.hookauth); unset: /v1/dhcp/options refuses every call
    hook_secret_file: str | None = None

    @model_validator(mode="after")
    def _tokens_differ(self) -> Settings:
        if self.read_token and self.read_token == self.write_token:
            raise ValueError("MALINA_ADMIN_READ_TOKEN and MALINA_ADMIN_WRITE_TOKEN must differ")
        if self.tftp_gate_token and self.tftp_gate_token == self.write_token:
            raise ValueError("MALINA_TFTP_GATE_TOKEN must not be the write token: the TFTP server only reads")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments, then the environment: no .env file and no secrets directory is read behind the operator's back.
        return init_settings, env_settings

    def with_(self, **changes: object) -> Settings:
        """A copy with ``changes``, validated like the original (the environment is not read again)."""
        values: dict[str, Any] = {**self.model_dump(), **changes}
        try:
            return Settings.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None


def _variable(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "settings"
    name = str(loc[0])
    if name.startswith(ENV_PREFIX):
        return name
    return {"read_token": "MALINA_ADMIN_READ_TOKEN", "write_token": "MALINA_ADMIN_WRITE_TOKEN"}.get(
        name, ENV_PREFIX + name.upper())


def _explain(exc: ValidationError) -> str:
    """One line per bad variable: its name, what is wrong and (unless it is a secret) the value given."""
    lines = []
    for error in exc.errors(include_url=False):
        variable = _variable(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        secret = variable.endswith("_TOKEN")
        if not error["loc"] or secret or error["type"] == "missing":
            lines.append(f"{variable}: {message}" if error["loc"] else message)
        else:
            lines.append(f"{variable}: {message}, got {error['input']!r}")
    return "; ".join(lines)


def from_env() -> Settings:
    """The settings of this process's environment; a ``ConfigError`` naming the variable when one is bad."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None

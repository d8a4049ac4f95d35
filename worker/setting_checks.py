"""Refuse a bad setting before the worker touches Temporal, in one line that names the variable.

A worker started with a typo in its SMTP sender or a certificate path that does not exist
would otherwise fail much later, inside an activity retry loop, where nobody is looking.
Deployments set these through environment variables, so every message speaks in those
names (MENTORFLOW_SMTP_PORT, not `smtp_port`) and says what to change. Secret values are
never echoed.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any, get_args

from pydantic import AliasChoices, SecretStr, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from worker.settings import Settings

# What MENTORFLOW_TRACING=true needs installed (the `otel` extra of the package).
TRACING_MODULES = (
    "opentelemetry.trace",
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
)
LEDGER_BACKENDS = ("sqlite", "postgresql")
# Channel config fields whose Settings name is not simply "<group>_<field>".
_CHANNEL_FIELDS = {("webhook", "default_url"): "webhook_url"}
_SECRET_WORDS = ("password", "secret", "token", "key")


class WorkerStartError(RuntimeError):
    """The worker cannot start; the message is one line for the person who started it."""


class SettingsError(WorkerStartError):
    """A setting is wrong; the message names its environment variable and the fix."""


# ------------------------------------------------------------------------------ names


def env_names(field: str) -> tuple[str, ...]:
    """Every environment variable that sets `field`, the preferred one first."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices)
    if isinstance(alias, str):
        return (alias,)
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return (f"{prefix}{field}".upper(),)


def env_name(field: str) -> str:
    return env_names(field)[0]


def all_env_names() -> dict[str, str]:
    """Environment variable -> the setting it fills, for everything Settings reads."""
    return {name: field for field in Settings.model_fields for name in env_names(field)}


def _field_for(location: str) -> str | None:
    if location in Settings.model_fields:
        return location
    return all_env_names().get(location.upper())


def _is_secret(field: str) -> bool:
    annotation = Settings.model_fields[field].annotation
    typed_secret = annotation is SecretStr or SecretStr in get_args(annotation)
    return typed_secret or any(word in field for word in _SECRET_WORDS)


# ------------------------------------------------------------------------------ loading


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and .env), or a SettingsError naming the variables."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise settings_error(err) from None


def settings_error(err: ValidationError) -> SettingsError:
    return SettingsError("; ".join(_describe(problem) for problem in err.errors()))


def _describe(problem: Any) -> str:
    message = str(problem["msg"]).removeprefix("Value error, ")
    field = _field_for(str(problem["loc"][0])) if problem["loc"] else None
    if field is None:  # a rule across fields: its message already names the variables
        return message
    name = env_name(field)
    shown = "" if _is_secret(field) else f"={problem.get('input')!r}"
    return f"{name}{shown} is not valid: {message}; fix {name} in the environment or .env"


# ------------------------------------------------------------------------------ checking


def check_settings(settings: Settings) -> None:
    """What a running worker needs beyond well-typed values: files that exist, a ledger URL
    it can use, channels that can send, codec and ledger keys that parse, tracing it can export."""
    checks = (_tls_files, _ledger_url, _data_dir, _channels, _codec, _seal, _links, _tracing)
    for check in checks:
        check(settings)


def _tls_files(settings: Settings) -> None:
    wanted = {
        "tls_cert": "the client certificate (PEM)",
        "tls_key": "the client private key (PEM)",
        "tls_ca": "the CA certificate that signed Temporal's server certificate (PEM)",
    }
    for field, what in wanted.items():
        path: Path | None = getattr(settings, field)
        if path is not None and not path.is_file():
            raise SettingsError(
                f"{env_name(field)}={str(path)!r} is not a readable file; point it at {what}"
            )


def _ledger_url(settings: Settings) -> None:
    name = env_name("ledger_url")
    example = "use sqlite:////var/lib/mentorflow/ledger.db or postgresql+psycopg://user:pw@host/db"
    try:
        url = make_url(settings.resolved_ledger_url)
    except ArgumentError:
        raise SettingsError(f"{name} is not a database URL; {example}") from None
    if url.get_backend_name() not in LEDGER_BACKENDS:
        shown = url.render_as_string(hide_password=True)
        raise SettingsError(f"{name}={shown!r} names an unsupported database; {example}")


def _data_dir(settings: Settings) -> None:
    """The outbox is every channel's fallback, so its folder must take writes."""
    folder = settings.resolved_outbox.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SettingsError(_unwritable(settings, folder, err.strerror or str(err))) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SettingsError(_unwritable(settings, folder, "permission denied"))


def _unwritable(settings: Settings, folder: Path, reason: str) -> str:
    field = "outbox_path" if settings.outbox_path else "data_dir"
    return (
        f"{env_name(field)}: cannot write to {str(folder)!r} ({reason}); "
        "point it at a folder this user can write to"
    )


def _channels(settings: Settings) -> None:
    if settings.webhook_url and settings.webhook_secret is None:
        raise SettingsError(
            f"{env_name('webhook_url')} is set but {env_name('webhook_secret')} is not; "
            "receivers verify each delivery's signature with it, so set a long random secret"
        )
    try:
        from worker.app import channels_config  # the channels cost 0.6 s of imports

        channels_config(settings)
    except ValidationError as err:
        raise SettingsError("; ".join(_channel_problem(p) for p in err.errors())) from None


def _channel_problem(problem: Any) -> str:
    """'smtp.sender is not an address' -> 'MENTORFLOW_SMTP_SENDER is not an address'."""
    message = str(problem["msg"]).removeprefix("Value error, ")
    message = re.sub(r"\b(smtp|webhook)\.(\w+)", _channel_variable, message)
    loc = [str(part) for part in problem["loc"]]
    setting = _channel_setting(loc[0], loc[1]) if len(loc) == 2 else None
    if setting is not None and env_name(setting) not in message:
        message = f"{env_name(setting)}: {message}"
    return message


def _channel_setting(group: str, field: str) -> str | None:
    setting = _CHANNEL_FIELDS.get((group, field), f"{group}_{field}")
    return setting if setting in Settings.model_fields else None


def _channel_variable(match: re.Match[str]) -> str:
    setting = _channel_setting(match.group(1), match.group(2))
    return env_name(setting) if setting is not None else match.group(0)


def _codec(settings: Settings) -> None:
    try:
        from worker.codec import codec_from

        codec_from(settings)
    except (ValueError, OSError) as err:  # CodecKeyError is a ValueError; it names the variable
        raise SettingsError(str(err)) from None


def _seal(settings: Settings) -> None:
    try:
        settings.seal_keys()
    except ValueError as err:  # SealKeyError names the variable, never the key
        raise SettingsError(str(err)) from None


def _links(settings: Settings) -> None:
    from web.links import link_keys_from  # the portal's module; it reads these settings

    try:
        link_keys_from(settings)
    except ValueError as err:  # names the problem, never the key
        raise SettingsError(f"{env_name('link_keys')}: {err}") from None


def tracing_available() -> bool:
    return all(_importable(module) for module in TRACING_MODULES)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked with sys.modules[name] = None
        return False


def _tracing(settings: Settings) -> None:
    if settings.tracing and not tracing_available():
        raise SettingsError(
            f"{env_name('tracing')}=true needs the OpenTelemetry packages, which are not "
            "installed; install them with `pip install 'mentorflow[otel]'` or set "
            f"{env_name('tracing')}=false"
        )

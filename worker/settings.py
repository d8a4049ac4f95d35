"""Every setting the worker and the CLI read, from the environment (or a .env file).

Temporal's own variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE) are honoured as the
`temporal` CLI does; everything else is MENTORFLOW_*.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.contacts import ProgramContacts
from ledger.seal import SealKeys, seal_keys_from


class Settings(BaseSettings):
    # An empty variable means "not set": compose files pass optional ones as ${VAR:-}.
    model_config = SettingsConfigDict(
        env_prefix="MENTORFLOW_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    temporal_address: str = Field(
        default="127.0.0.1:7233",
        validation_alias=AliasChoices("TEMPORAL_ADDRESS", "MENTORFLOW_TEMPORAL_ADDRESS"),
    )
    namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "MENTORFLOW_NAMESPACE"),
    )
    task_queue: str = "mentorflow"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None

    data_dir: Path = Path(".data")
    ledger_url: str | None = None
    outbox_path: Path | None = None

    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "mentorflow@localhost"
    webhook_url: str | None = None
    # Who answers for a program: Reply-To and sign-off of its emails. "Name <address>"; per
    # program as "program=Name <address>; ..." Without one, the relationship's operator.
    program_contact: str | None = None
    program_contacts: str | None = None

    # The portal: participants' personal links are signed with these keys ("id:secret",
    # comma-separated; the first or link_active_key signs, all verify), valid link_days.
    # The embedded runtime creates <data_dir>/link.keys on first start.
    portal_url: str = "http://127.0.0.1:8282"
    portal_host: str = "127.0.0.1"
    portal_port: int = Field(default=8282, ge=1, le=65535)
    link_keys: SecretStr | None = None
    link_keys_file: Path | None = None
    link_active_key: str | None = None
    link_days: int = Field(default=30, ge=1, le=366)
    webhook_secret: SecretStr | None = None
    # Operators sign in with an OpenID Connect provider where one is set (its issuer URL,
    # which serves /.well-known/openid-configuration, and this portal's client there); the
    # emailed sign-in link stays on unless oidc_only. The provider must vouch for the email.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_name: str = "your organisation's sign-in"
    oidc_only: bool = False

    # Payload encryption: "id:base64key" entries, comma-separated; the first (or
    # codec_active_key) encrypts, every one decrypts, so old keys stay listed after rotation.
    codec_keys: SecretStr | None = None
    codec_keys_file: Path | None = None
    codec_active_key: str | None = None
    # The codec server that decodes payloads for the web UI and the `temporal` CLI.
    codec_token: SecretStr | None = None
    codec_host: str = "127.0.0.1"
    codec_port: int = Field(default=8081, ge=1, le=65535)
    codec_cors_origin: str | None = "http://localhost:8233"

    # The ledger's seal: "id:base64key" HMAC keys like the codec's (first or
    # ledger_active_key seals, all check). Without them rows are chained but not sealed; the
    # embedded runtime creates <data_dir>/ledger.keys on first start.
    ledger_keys: SecretStr | None = None
    ledger_keys_file: Path | None = None
    ledger_active_key: str | None = None
    # Signed checkpoints of every relationship's head, outside the database (append-only
    # storage in production), every `checkpoint_every_minutes` and at every conclusion.
    checkpoint_dir: Path | None = None
    checkpoint_every_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)

    max_concurrent_activities: int = Field(default=100, ge=1, le=10_000)
    max_concurrent_workflow_tasks: int = Field(default=100, ge=1, le=10_000)
    max_cached_workflows: int = Field(default=10_000, ge=0, le=1_000_000)
    # Observability: Temporal SDK metrics on http://<metrics_host>:<metrics_port>/metrics (off
    # unless a port is set), logs as console lines or JSON, OpenTelemetry spans on request.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    tracing: bool = False

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError(
                "MENTORFLOW_TLS_CERT and MENTORFLOW_TLS_KEY go together for mTLS; "
                "set both or neither"
            )
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        given = {
            "MENTORFLOW_OIDC_ISSUER": self.oidc_issuer,
            "MENTORFLOW_OIDC_CLIENT_ID": self.oidc_client_id,
            "MENTORFLOW_OIDC_CLIENT_SECRET": self.oidc_client_secret,
        }
        missing = [name for name, value in given.items() if not value]
        if missing and len(missing) < len(given):
            raise ValueError(
                f"{', '.join(missing)}: missing; OpenID Connect sign-in needs the issuer, "
                "the client id and the client secret (set all three, or none)"
            )
        if self.oidc_issuer and not self.oidc_issuer.startswith(("https://", "http://")):
            raise ValueError(
                f"MENTORFLOW_OIDC_ISSUER: '{self.oidc_issuer}' is not an http(s) URL; give the "
                "provider's issuer, e.g. https://login.example.org/realms/staff"
            )
        if self.oidc_only and missing:
            raise ValueError(
                "MENTORFLOW_OIDC_ONLY: set, but no OpenID Connect provider is; set "
                "MENTORFLOW_OIDC_ISSUER, _CLIENT_ID and _CLIENT_SECRET, or unset it"
            )
        return self

    @model_validator(mode="after")
    def _contacts_read(self) -> Settings:
        checks = (
            ("MENTORFLOW_PROGRAM_CONTACT", self.program_contact, None),
            ("MENTORFLOW_PROGRAM_CONTACTS", None, self.program_contacts),
        )
        for name, default, programs in checks:
            try:
                ProgramContacts.parse(default, programs)
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None
        return self

    @property
    def contacts(self) -> ProgramContacts:
        return ProgramContacts.parse(self.program_contact, self.program_contacts)

    @property
    def resolved_ledger_url(self) -> str:
        return self.ledger_url or f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    @property
    def resolved_ledger_keys_file(self) -> Path:
        return self.ledger_keys_file or self.data_dir / "ledger.keys"

    @property
    def resolved_link_keys_file(self) -> Path:
        return self.link_keys_file or self.data_dir / "link.keys"

    @property
    def local_codec_keys_file(self) -> Path:
        """Where `mentorflow up` keeps the payload key it made, read when no codec key is set."""
        return self.data_dir / "codec.keys"

    @property
    def resolved_checkpoint_dir(self) -> Path:
        return self.checkpoint_dir or self.data_dir / "checkpoints"

    def seal_keys(self) -> SealKeys | None:
        """The ledger's keys, or None when none are configured (nor created here)."""
        if self.ledger_keys is not None:
            spec, keys_file = self.ledger_keys.get_secret_value(), self.ledger_keys_file
        else:
            spec, keys_file = None, self.resolved_ledger_keys_file
        return seal_keys_from(spec, keys_file, self.ledger_active_key)

    @property
    def resolved_outbox(self) -> Path:
        return self.outbox_path or self.data_dir / "outbox.jsonl"

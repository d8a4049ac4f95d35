"""Personal links: signed, expiring, naming one relationship, one person and one role.

A link is `<key id>.<itsdangerous token>`. The key id says which key signed it, so keys
rotate: new links are signed with the active key, links signed with an older key that is
still listed keep working until they expire, and a key taken off the list voids its links.
The token is the only credential a participant holds, so it is never logged (the portal
logs `/p/…`) and the page it opens moves it into a session cookie at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, ValidationError

from mentorship.participants import Role
from worker.settings import Settings

_SALT = "mentorflow-personal-link"
_SIGN_IN_SALT = "mentorflow-operator-sign-in"
PARTICIPANT_ROLES = (Role.MENTOR, Role.MENTEE)
SIGN_IN_LIFETIME = timedelta(minutes=15)


class LinkRefused(ValueError):
    """A link that opens nothing: expired, altered, or signed with a retired key."""

    def __init__(self, reason: str, expired: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired  # an authentic link's payload, when age alone refused it


class LinkExpired(LinkRefused):
    """A link we signed that is too old: who it was for is known, so a new one can be sent
    to them (never shown to whoever holds the old one)."""

    def __init__(self, claim: Claim) -> None:
        super().__init__("this link has expired")
        self.claim = claim


class Claim(BaseModel):
    """Who a link speaks for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    relationship_id: str
    person_id: str
    role: Role


class OperatorClaim(BaseModel):
    """Who an operator's emailed sign-in link signs in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operator_id: str
    email: str


class LinkKeys(BaseModel):
    """Signing keys by id; the first (or `active`) signs, every one verifies."""

    model_config = ConfigDict(frozen=True)

    keys: dict[str, str]
    active: str

    @classmethod
    def parse(cls, spec: str, active: str | None = None) -> LinkKeys:
        keys: dict[str, str] = {}
        for entry in spec.replace("\n", ",").split(","):
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            key_id, sep, secret = entry.partition(":")
            if not sep or not key_id.strip() or len(secret.strip()) < 32:
                raise ValueError(
                    "a link key is 'id:secret' with a secret of 32 characters or more "
                    "(e.g. `openssl rand -hex 32`)"
                )
            keys[key_id.strip()] = secret.strip()
        if not keys:
            raise ValueError("no link key given; write 'id:secret'")
        chosen = active or next(iter(keys))
        if chosen not in keys:
            raise ValueError(f"the active link key '{chosen}' is not among the keys given")
        return cls(keys=keys, active=chosen)


def ensure_local_keys(path: Path) -> LinkKeys:
    """The embedded engine's link key: made once, kept beside the data (mode 0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key_id = f"local-{datetime.now(UTC):%Y%m%d}"
        path.write_text(f"{key_id}:{secrets.token_hex(32)}\n")
        path.chmod(0o600)
    return LinkKeys.parse(path.read_text())


def _signer_on(clock: Callable[[], datetime]) -> type[TimestampSigner]:
    class _Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return _Signer


class Links:
    """Issues and reads personal links; `clock` is injectable so expiry is testable."""

    def __init__(
        self,
        keys: LinkKeys,
        base_url: str,
        lifetime: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.keys = keys
        self.base_url = base_url.rstrip("/")
        self.lifetime = lifetime
        self._clock = clock

    def _serializer(self, key_id: str, salt: str) -> URLSafeTimedSerializer:
        secret = self.keys.keys[key_id]
        return URLSafeTimedSerializer(secret, salt=salt, signer=_signer_on(self._clock))

    def _sign(self, data: dict[str, Any], salt: str) -> str:
        signed = self._serializer(self.keys.active, salt).dumps(data)
        return f"{self.keys.active}.{signed}"

    def _load(self, token: str, salt: str, lifetime: timedelta) -> Any:
        key_id, sep, signed = token.partition(".")
        if not sep or key_id not in self.keys.keys:
            raise LinkRefused("this link was signed with a key that is no longer in use")
        try:
            return self._serializer(key_id, salt).loads(
                signed, max_age=int(lifetime.total_seconds())
            )
        except SignatureExpired:
            authentic = self._serializer(key_id, salt).loads(signed)  # signature checked again
            raise LinkRefused("this link has expired", expired=authentic) from None
        except BadSignature:
            raise LinkRefused("this link is not valid (it was changed or cut short)") from None

    def token(self, claim: Claim) -> str:
        return self._sign(claim.model_dump(mode="json"), _SALT)

    def url(self, claim: Claim) -> str:
        return f"{self.base_url}/p/{self.token(claim)}"

    def read(self, token: str) -> Claim:
        """Raises LinkExpired (with its claim) for an old link of ours, LinkRefused else."""
        try:
            data = self._load(token, _SALT, self.lifetime)
        except LinkRefused as err:
            old = _participant_claim(err.expired) if err.expired is not None else None
            raise (LinkExpired(old) if old else err) from None
        try:
            claim = Claim.model_validate(data)
        except ValidationError:
            raise LinkRefused("this link is not valid") from None
        if claim.role not in PARTICIPANT_ROLES:
            raise LinkRefused("this link is not valid")
        return claim

    def sign_in_url(self, claim: OperatorClaim) -> str:
        """An operator's sign-in link: short-lived; no participant link can pass for one."""
        return f"{self.base_url}/ops/s/{self._sign(claim.model_dump(), _SIGN_IN_SALT)}"

    def read_sign_in(self, token: str) -> OperatorClaim:
        data = self._load(token, _SIGN_IN_SALT, SIGN_IN_LIFETIME)
        try:
            return OperatorClaim.model_validate(data)
        except ValidationError:
            raise LinkRefused("this sign-in link is not valid") from None


def _participant_claim(data: Any) -> Claim | None:
    try:
        claim = Claim.model_validate(data)
    except ValidationError:
        return None
    return claim if claim.role in PARTICIPANT_ROLES else None


def link_keys_from(settings: Settings) -> LinkKeys | None:
    """The configured keys, else the local file `up` made; None when there are neither."""
    if settings.link_keys is not None:
        return LinkKeys.parse(settings.link_keys.get_secret_value(), settings.link_active_key)
    path = settings.resolved_link_keys_file
    if not path.exists():
        return None
    return LinkKeys.parse(path.read_text(), settings.link_active_key)


def links_from(settings: Settings) -> Links | None:
    keys = link_keys_from(settings)
    if keys is None:
        return None
    return Links(keys, settings.portal_url, timedelta(days=settings.link_days))

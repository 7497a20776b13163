"""Settings, from environment variables with the one prefix ``BILLING_``.

Each concern has its own group and sub-prefix (``BILLING_TEMPORAL_*``, ``BILLING_HTTP_*``, ``BILLING_CODEC_*``;
each provider's own, in ``providers/<name>/settings.py``; the local dev stack's ``BILLING_DEV_*`` and
``BILLING_EMULATORS_*``, in :mod:`host.settings`). Secrets are ``SecretStr``: they
never print, log or reach workflow history. ``docs/configuration.md`` lists every variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.errors import ConfigurationError
from billing.events import split_secrets

if TYPE_CHECKING:
    from temporalio.service import TLSConfig

S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S]) -> S:
    """Read a settings class from the environment; a bad value is a ConfigurationError naming its variable."""
    try:
        return cls()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "_".join(str(part) for part in first.get("loc", ())).upper()
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        prefix = str(cls.model_config.get("env_prefix", ""))
        raise ConfigurationError(message, setting=f"{prefix}{field}") from None


class TemporalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_TEMPORAL_", extra="ignore")

    address: str = Field(default="127.0.0.1:7233", description="Temporal frontend host:port")
    namespace: str = "default"
    task_queue: str = "billing"
    api_key: SecretStr | None = Field(default=None, description="Temporal Cloud API key")
    tls: bool = False
    #: How long a worker waits for the frontend at start (a cluster may still be starting).
    connect_wait_seconds: float = Field(default=30.0, ge=0)
    #: mTLS (Temporal Cloud's certificate authentication, or a self-hosted frontend that requires it):
    #: the client certificate chain and its private key, PEM files. Either turns TLS on.
    tls_client_cert_file: Path | None = None
    tls_client_key_file: Path | None = None
    #: The CA that signed the frontend's certificate, when it is not in the system's trust store.
    tls_server_ca_file: Path | None = None
    #: The name the frontend's certificate is checked against, when it differs from the address's host.
    tls_server_name: str | None = None

    @model_validator(mode="after")
    def _check_tls(self) -> TemporalSettings:
        if (self.tls_client_cert_file is None) != (self.tls_client_key_file is None):
            missing = "CERT" if self.tls_client_cert_file is None else "KEY"
            raise ConfigurationError(
                "mTLS needs both the client certificate and its key",
                setting=f"BILLING_TEMPORAL_TLS_CLIENT_{missing}_FILE",
            )
        return self

    def tls_enabled(self) -> bool:
        return bool(self.tls or self.api_key or self.tls_client_cert_file or self.tls_server_ca_file)

    def tls_config(self) -> TLSConfig | bool:
        """What ``Client.connect(tls=...)`` takes: a TLSConfig with the files' contents, or a plain on/off."""
        from temporalio.service import TLSConfig

        def read(path: Path | None, setting: str) -> bytes | None:
            if path is None:
                return None
            try:
                return path.read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"cannot read {path}: {exc.strerror}", setting=setting) from None

        if not (self.tls_client_cert_file or self.tls_server_ca_file or self.tls_server_name):
            return self.tls_enabled()
        return TLSConfig(
            client_cert=read(self.tls_client_cert_file, "BILLING_TEMPORAL_TLS_CLIENT_CERT_FILE"),
            client_private_key=read(self.tls_client_key_file, "BILLING_TEMPORAL_TLS_CLIENT_KEY_FILE"),
            server_root_ca_cert=read(self.tls_server_ca_file, "BILLING_TEMPORAL_TLS_SERVER_CA_FILE"),
            domain=self.tls_server_name,
        )


def read_setting_file(path: Path, setting: str) -> str:
    """The text of a file a ``*_FILE`` setting names (a mounted secret); unreadable: a ConfigurationError."""
    return _read(path, setting)


def _read(path: Path, setting: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}", setting=setting) from exc


class HttpServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_HTTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    #: The URL providers reach this service at (notifyUrl is built from it).
    public_url: str = "http://127.0.0.1:8000"
    #: The largest notification body read; a larger one gets 413 before it is read (Content-Length) or as
    #: soon as it passes the limit (chunked). The largest provider notification, a subscription's with every
    #: period's payment listed, is about 200 bytes a period: 1 MiB holds thousands.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: A browser redirect for an order signals the order at most once this often (per service instance);
    #: the order itself also ignores hints while an inquiry is in flight or was made in the last 5 s.
    hint_window_seconds: float = Field(default=5.0, ge=0)


class CodecSettings(BaseSettings):
    """Payload encryption (AES-256-GCM) and the codec server the Temporal UI decodes through.

    Encryption is on when ``keys`` is set: every client, worker and replayer built by
    :mod:`billing.temporal` then encrypts payloads with the active key and decrypts with the key a
    payload names. Without keys, payloads are stored as plain JSON.
    """

    model_config = SettingsConfigDict(env_prefix="BILLING_CODEC_", extra="ignore")

    #: The keyring: ``id:base64-32-bytes`` entries separated by commas, e.g. ``k2:...,k1:...``.
    keys: SecretStr | None = Field(default=None, description="encryption keyring")
    #: The key id new payloads are encrypted with; the first key of ``keys`` when unset.
    active_key: str | None = None
    #: Bearer token the codec server requires; the codec endpoints answer 404 without one.
    auth_token: SecretStr | None = Field(default=None, description="codec server bearer token")
    #: Browser origins (the Temporal UI's) allowed to call the codec server, comma-separated.
    cors_origins: str = ""
    #: Also accept the token as a path segment (``/codec/<token>/decode``), for UIs that cannot send an
    #: ``Authorization`` header. The URL is then a secret.
    token_in_path: bool = False

    @model_validator(mode="after")
    def _check_keys(self) -> CodecSettings:
        if self.keys is not None or self.active_key is not None:
            self.keyring()  # fails at start-up, naming the setting
        return self

    def enabled(self) -> bool:
        return self.keys is not None and bool(self.keys.get_secret_value().strip())

    def keyring(self) -> tuple[dict[str, bytes], str]:
        """The keys by id and the active key id. Raises ConfigurationError naming the bad setting."""
        import base64
        import binascii
        import re

        raw = self.keys.get_secret_value() if self.keys is not None else ""
        if not raw.strip():
            if self.active_key:
                raise ConfigurationError("set, but BILLING_CODEC_KEYS is empty", setting="BILLING_CODEC_ACTIVE_KEY")
            return {}, ""
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(raw.split(","), start=1):
            key_id, sep, encoded = entry.strip().partition(":")
            if not sep or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", key_id):
                raise ConfigurationError(
                    f"entry {position} is not id:base64-key (id: letters, digits, . _ -)", setting="BILLING_CODEC_KEYS"
                )
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigurationError(f"key {key_id!r} is not valid base64", setting="BILLING_CODEC_KEYS") from None
            if len(key) != 32:
                raise ConfigurationError(
                    f"key {key_id!r} is {len(key)} bytes; AES-256 needs 32", setting="BILLING_CODEC_KEYS"
                )
            if key_id in keys:
                raise ConfigurationError(f"key id {key_id!r} appears twice", setting="BILLING_CODEC_KEYS")
            keys[key_id] = key
        active = self.active_key or next(iter(keys))
        if active not in keys:
            raise ConfigurationError(
                f"{active!r} is not a key id of BILLING_CODEC_KEYS ({', '.join(keys)})",
                setting="BILLING_CODEC_ACTIVE_KEY",
            )
        return keys, active

    def origins(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]


class MerchantEventSettings(BaseSettings):
    """Where the worker POSTs merchant events (see :mod:`billing.events`). Off while ``url`` is unset."""

    model_config = SettingsConfigDict(env_prefix="BILLING_EVENTS_", extra="ignore")

    #: The merchant's endpoint, e.g. ``https://shop.example/billing-events``.
    url: str | None = None
    #: Signing secrets, comma-separated; each signs every event (one ``v1`` each), so a receiver can move
    #: to a new secret while the old one is still listed.
    secrets: SecretStr | None = Field(default=None, description="HMAC-SHA256 signing secrets")
    #: How long one delivery attempt may take before it counts as failed and is retried.
    timeout_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> MerchantEventSettings:
        if self.url is not None and not self.url.strip():
            self.url = None
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise ConfigurationError("must start with http:// or https://", setting="BILLING_EVENTS_URL")
            if not self.secret_list():
                raise ConfigurationError(
                    "events are signed: set a secret for BILLING_EVENTS_URL", setting="BILLING_EVENTS_SECRETS"
                )
        return self

    def enabled(self) -> bool:
        return self.url is not None

    def secret_list(self) -> list[str]:
        return split_secrets(self.secrets.get_secret_value() if self.secrets is not None else "")

"""What the engine knows of a provider: one frozen :class:`ProviderSpec` per provider folder.

Each ``providers/<name>/spec.py`` exports ``SPEC``, and ``providers/registry.py`` lists them. The engine
(``billing/``, ``workflows/``, ``activities/``, ``webhooks/``, ``worker.py``) reads these declarations and
never names a provider.

A declaration is pure data and pure functions of the payment method: importing it loads no client and no
HTTP library, so workflow code may read it (every answer is the same on every replay). What needs I/O or
the environment (settings, the client, the notification verifier, a start-up check) is reached through the
declaration's factories, which import their module only when called.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from providers.base import NotificationVerifier, PaymentProvider

#: Billing modes, by their ``billing.subscriptions.BillingMode`` values.
PROVIDER_MANAGED = "provider_managed"
ENGINE_CHARGED = "engine_charged"
ENGINE_INVOICED = "engine_invoiced"


@dataclass(frozen=True)
class Requirement:
    """A customer field the provider refuses to work without: ``field`` names a ``billing.gateway.Customer``
    attribute, ``why`` (optional) tells the caller what the provider uses it for."""

    field: str
    why: str | None = None


def _no_requirements(method: str) -> tuple[Requirement, ...]:
    return ()


def _never(method: str) -> bool:
    return False


def _no_window_limit(method: str) -> timedelta | None:
    return None


def _no_mode_requirements(mode: str) -> tuple[Requirement, ...]:
    return ()


def _none() -> None:
    return None


@dataclass(frozen=True)
class ProviderSpec:
    """One provider's declaration. Functions of the payment method get it upper-cased, ``""`` when unset."""

    #: The provider's id in URLs, requests and workflow inputs (``/webhooks/<name>/...``).
    name: str
    #: How people write it (log lines, errors).
    title: str
    #: Its settings' environment prefix, e.g. ``BILLING_<NAME>_``.
    settings_prefix: str
    #: The longest one call may wait for its answer by the provider's documents (``timing.py``). The engine's
    #: call limit is above it, so a call still waiting is never timed out and sent again.
    longest_wait: timedelta
    #: No signed notifications: orders are polled, often, from the start (``billing.orders.POLLING_SCHEDULE``).
    polled: bool = False
    #: The refund call has no idempotency key of its own (a repeat repeats money): sent once, never retried.
    single_shot_refunds: bool = False
    #: An order create whose outcome was unknown may be re-sent with the same idempotency key when an inquiry
    #: finds nothing (the provider answers a repeat with the existing payment, or refuses a different body).
    create_resend: bool = False
    #: The checkout lapses at the customer action's ``expires_at`` and has no transaction until the customer
    #: pays: "no such transaction" after the lapse and the deadline means nothing was taken (EXPIRED).
    lapsing_checkout: bool = False
    #: The payer may complete a payment after the order closed, and no notification tells of it: an order
    #: that ended EXPIRED or CANCELLED keeps asking on ``OrderPolicy.late_payment_watch``.
    late_paying: bool = False
    #: How subscriptions are billed unless the request chooses, and the modes the provider can serve.
    default_billing_mode: str = ENGINE_INVOICED
    billing_modes: frozenset[str] = frozenset({ENGINE_INVOICED})
    #: The payment method of an engine-invoiced period's order (None: the provider's default checkout).
    invoice_payment_method: str | None = None
    #: Customer fields an order paid by this method needs.
    requirements: Callable[[str], tuple[Requirement, ...]] = _no_requirements
    #: How long a checkout of this payment method stays payable after its create (a hosted page that lapses
    #: with no transaction until paid), or None. A create whose answer was lost made at most a page nobody
    #: was shown; "no such transaction" after this long means nothing was taken (the order FAILS, unreviewed).
    checkout_lifetime: Callable[[str], timedelta | None] = _no_window_limit
    #: Customer fields a subscription billed in this mode needs (its period orders would need them).
    subscription_requirements: Callable[[str], tuple[Requirement, ...]] = _no_mode_requirements
    #: The create call itself waits while the payer approves (a push to the handset, a PIN at a counter):
    #: its call limit must stay above :attr:`longest_wait` unless the create may be re-sent.
    waits_for_payer: Callable[[str], bool] = _never
    #: The longest payment window the provider honours for this method (None: no limit). It is also the
    #: default window of such an order.
    payment_window_limit: Callable[[str], timedelta | None] = _no_window_limit
    #: The client, from the provider's settings; None when they are incomplete. Bad keys raise here.
    build_client: Callable[[], PaymentProvider | None] = _none
    #: The verifier of signed notifications, from the provider's settings; None when the provider sends none
    #: or is not configured.
    build_verifier: Callable[[], NotificationVerifier | None] = _none
    #: The client from settings given in code (the settings class's fields by name) rather than the
    #: environment: how a local stack, the tests and the benchmarks point it at the emulator.
    client_from_settings: Callable[[Mapping[str, Any]], PaymentProvider] | None = None
    #: The verifier of signed notifications from settings given in code; None when the provider sends none.
    verifier_from_settings: Callable[[Mapping[str, Any]], NotificationVerifier] | None = None
    #: The result token a customer's redirect URL carries back from the provider's page (unsigned: a hint).
    redirect_token: Callable[[str], str | None] | None = None
    #: Checks the merchant's configuration at the provider when the worker starts (logs, or refuses to start).
    startup_check: Callable[[PaymentProvider], Awaitable[None]] | None = None
    #: Settings classes the provider reads (the configuration docs list them).
    settings: Callable[[], tuple[type, ...]] = tuple


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for a provider package: ``from providers.<name> import Client`` imports the
    module that defines ``Client`` on first use, so importing ``providers.<name>.spec`` loads nothing else."""

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__

"""Metrics: the engine's business counters.

Two kinds of code count:

* code that runs once per event (activities, the HTTP service) counts with the OpenTelemetry API:
  ``billing.refunds`` (provider, outcome: the provider's answer to the refund call), ``billing.webhooks``
  (provider, outcome) and ``billing.webhook.verification_failures`` (provider);
* what a workflow decides is counted from workflow code with Temporal's replay-safe
  ``workflow.metric_meter()`` (nothing is recorded while a workflow replays): ``billing.payments``
  (provider, outcome: paid, failed, expired or cancelled, once per order reaching it; a payment that
  arrives after the order expired counts ``paid`` as well),
  ``billing.reconciliations`` (provider, outcome: the status an order in UNKNOWN reached),
  ``billing.needs_review`` (provider) and ``billing.subscription.changes`` (provider, mode, change: what
  each merchant event of a subscription says, e.g. ``period_paid``, ``period_payment_failed``,
  ``past_due``, ``unpaid``, ``cancelled``, ``invoice_issued``, ``plan_changed``).

Where they go (``OTEL_METRICS_EXPORTER``: none, console or otlp) is the process's choice, made in
:mod:`host.metrics`. Attributes never carry personal data or amounts.
"""

from __future__ import annotations

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import Counter, Meter, MeterProvider
from temporalio import workflow

from billing.orders import CLOSED_STATUSES, FINAL_STATUSES, PAID_STATUSES, OrderStatus

METER = "billing"
PAYMENTS = "billing.payments"
RECONCILIATIONS = "billing.reconciliations"
NEEDS_REVIEW = "billing.needs_review"
REFUNDS = "billing.refunds"
WEBHOOKS = "billing.webhooks"
VERIFICATION_FAILURES = "billing.webhook.verification_failures"
SUBSCRIPTION_CHANGES = "billing.subscription.changes"


# -- counted where events happen once: activities, the HTTP service ---------------------------------------


class _Instruments:
    def __init__(self, meter: Meter) -> None:
        self.refunds = meter.create_counter(REFUNDS, "{refund}", "Refund calls by the provider's answer")
        self.webhooks = meter.create_counter(WEBHOOKS, "{request}", "Provider notifications by outcome")
        self.verification_failures: Counter = meter.create_counter(
            VERIFICATION_FAILURES, "{request}", "Provider notifications whose signature did not verify"
        )


_instruments: _Instruments | None = None


def bind(provider: MeterProvider | None = None) -> None:
    """Count into ``provider`` (a test's), or again into the global meter provider when None."""
    global _instruments
    meter = (provider or otel_metrics.get_meter_provider()).get_meter(METER)
    _instruments = _Instruments(meter)


def _counters() -> _Instruments:
    if _instruments is None:
        bind()  # the API's proxy: a no-op until a meter provider is configured, then real
    assert _instruments is not None
    return _instruments


def count_refund(provider: str, outcome: str) -> None:
    _counters().refunds.add(1, {"provider": provider, "outcome": outcome})


def count_webhook(provider: str, outcome: str) -> None:
    counters = _counters()
    counters.webhooks.add(1, {"provider": provider, "outcome": outcome})
    if outcome == "rejected":
        counters.verification_failures.add(1, {"provider": provider})


# -- counted by workflows: replay-safe ---------------------------------------------------------------------


def order_status_changed(provider: str, before: OrderStatus | None, after: OrderStatus) -> None:
    """Count what an order's move from ``before`` to ``after`` means. Workflow code only: it records through
    ``workflow.metric_meter()``, which records nothing during replay, so each move counts once."""
    if before is after:
        return
    meter = workflow.metric_meter()
    # Paid from anything but paid (a late payment counts after its expiry); closed from anything open.
    paid = after is OrderStatus.PAID and before not in PAID_STATUSES
    if paid or (after in CLOSED_STATUSES and before not in FINAL_STATUSES):
        outcome = after.value.lower()
        meter.create_counter(PAYMENTS, "Orders settled, by outcome").add(1, {"provider": provider, "outcome": outcome})
    if after is OrderStatus.NEEDS_REVIEW:
        meter.create_counter(NEEDS_REVIEW, "Orders left to an operator").add(1, {"provider": provider})
    elif before is OrderStatus.UNKNOWN:
        meter.create_counter(RECONCILIATIONS, "Unknown outcomes settled").add(
            1, {"provider": provider, "outcome": after.value.lower()}
        )


def subscription_changed(provider: str, mode: str, change: str) -> None:
    """Count one change of a subscription, as announced to the merchant (so once per change). Workflow
    code only, like :func:`order_status_changed`."""
    workflow.metric_meter().create_counter(SUBSCRIPTION_CHANGES, "Subscription changes, by kind").add(
        1, {"provider": provider, "mode": mode, "change": change}
    )

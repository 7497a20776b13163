"""Building blocks shared by the provider emulators.

Nothing here knows a provider's spelling: the ledger, the fault queue, the retrying notification
delivery loop, the adjustable clock and ISO 4217 amount handling are reused by every emulator.
"""

from emulators.common.clock import Clock
from emulators.common.faults import Fault, FaultQueue
from emulators.common.ledger import Ledger, LedgerEntry
from emulators.common.money import currency_exponent, format_amount, parse_amount
from emulators.common.notifier import DeliveryAttempt, OutboundNotification, RetryingNotifier

__all__ = [
    "Clock",
    "DeliveryAttempt",
    "Fault",
    "FaultQueue",
    "Ledger",
    "LedgerEntry",
    "OutboundNotification",
    "RetryingNotifier",
    "currency_exponent",
    "format_amount",
    "parse_amount",
]

"""Waffo API result codes and the HTTP status each class travels with."""

from __future__ import annotations

SUCCESS_CODE = "0"
SUCCESS_MSG = "Success"

MESSAGES: dict[str, str] = {
    "A0001": "Invalid API secret key",
    "A0002": "Invalid signature",
    "A0003": "Parameter validation failed",
    "A0004": "Permission denied",
    "A0007": "Unsupported transaction currency",
    "A0009": "Order does not exist",
    "A0010": "Merchant contract does not allow this operation",
    "A0011": "Idempotency parameter mismatch error",
    "A0013": "Payment has succeeded, the order cannot be canceled",
    "A0014": "Refund not allowed due to refund rules",
    "A0035": "Current order does not support capture operation",
    "A0036": "Current order status does not allow capture operation",
    "C0001": "System Error",
    "C0005": "Payment channel rejection",
    "C0006": "Payment channel error",
    "C0007": "Payment channel under maintenance",
    "E0001": "Unknown status",
}


#: Channel refusals, answered with HTTP 503 (SDK README "System Related Errors").
CHANNEL_CODES = frozenset({"C0005", "C0006", "C0007"})


def http_status_for(code: str) -> int:
    """HTTP status per code class: A 400 (401 for auth), B 400, C 500 (503 for the channel codes
    C0005-C0007), D 406, E 500 (the SDK's error-code tables)."""
    if code == SUCCESS_CODE:
        return 200
    if code in ("A0001", "A0002", "A0004"):
        return 401
    if code in CHANNEL_CODES:
        return 503
    return {"A": 400, "B": 400, "C": 500, "D": 406, "E": 500}.get(code[:1], 500)


class WaffoApiError(Exception):
    """A non-"0" result. Raised by handlers; the API layer turns it into a signed envelope."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        self.code = code
        base = MESSAGES.get(code, "Error")
        self.msg = f"{base}: {detail}" if detail else base
        super().__init__(f"{code} {self.msg}")

    @property
    def http_status(self) -> int:
        return http_status_for(self.code)


def invalid(field: str, problem: str) -> WaffoApiError:
    """A0003 naming the offending field."""
    return WaffoApiError("A0003", f"{field} {problem}")

"""KESS refusals: a WeChat-style err_code, its description and the HTTP status the emulator answers."""

from __future__ import annotations

from typing import Any

#: err_code -> default err_code_des. The codes are WeChat Pay's, passed through by KESS (reference B3).
MESSAGES: dict[str, str] = {
    "PARAM_ERROR": "invalid request parameter",
    "NOAUTH": "the store does not belong to this user",
    "SYSTEMERROR": "system error, query the order with the same out_trade_no",
    "OUT_TRADE_NO_USED": "out_trade_no was already used with different parameters",
    "ORDERNOTEXIST": "order does not exist",
    "ORDERPAID": "order already paid",
    "ORDERCLOSED": "order closed",
    "ORDERREVERSED": "order revoked",
    "USERPAYING": "waiting for the buyer to enter the password",
    "AUTHCODEEXPIRE": "the payment code expired, ask the buyer to refresh it",
    "NOTENOUGH": "insufficient balance",
    "PAYERROR": "the buyer cancelled the payment",
    "TRADE_STATE_ERROR": "the order is not paid",
    "INVALID_REQUEST": "refund amount exceeds the refundable amount",
    "REFUND_FEE_MISMATCH": "out_refund_no was already used with different parameters",
    "REFUNDNOTEXIST": "refund does not exist",
}

#: Parameter problems are answered with HTTP 400; every other business refusal with HTTP 200.
_HTTP_400 = frozenset({"PARAM_ERROR"})


class KessApiError(Exception):
    def __init__(self, err_code: str, description: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.err_code = err_code
        self.description = description or MESSAGES.get(err_code, err_code)
        self.data = data or {}
        super().__init__(f"{err_code}: {self.description}")

    @property
    def http_status(self) -> int:
        return 400 if self.err_code in _HTTP_400 else 200


def invalid(field: str, problem: str) -> KessApiError:
    return KessApiError("PARAM_ERROR", f"{field} {problem}")

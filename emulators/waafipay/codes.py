"""WaafiPay response codes (responseCode / errorCode / responseMsg) and the reply value.

Codes marked "invented" below are not in any public source; README.md lists them and
`WaafiPayEmulatorConfig.code_overrides` replaces any entry by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ParamsShape = Literal["object", "list", "absent"]


@dataclass(frozen=True)
class Code:
    response_code: str
    error_code: str
    message: str


DEFAULT_CODES: dict[str, Code] = {
    # Documented or captured.
    "success": Code("2001", "0", "RCS_SUCCESS"),
    "already_cancelled": Code("5202", "E10207", "RCS_TRAN_ALREADY_CANCELLED"),
    "issuer_declined": Code("5206", "E10205", "RCS_TRAN_FAILED_AT_ISSUER_SYSTEM"),
    "not_found": Code("5213", "E10206", "RCS_TRAN_NOT_FOUND"),
    "order_failed": Code("5035", "E10222", "RCS_FAILED_TOCREATE_ORDER"),
    "not_allowed": Code("5222", "E10235", "We are sorry this Operation is not Allowed at this moment"),
    # Documented responseCode and message; the errorCode is invented ("E10" + last three digits).
    "invalid_hpp_key": Code("5301", "E10301", "RCS_INVALID_HPPKEY"),
    "invalid_hpp_token": Code("5302", "E10302", "RCS_INVALID_HPPTOKEN"),
    "invalid_result_token": Code("5303", "E10303", "RCS_INVALID_HPPRESULTTOKEN"),
    "reference_mismatch": Code("5304", "E10304", "RCS_HPP_MERCHANT_REFERENCEID_MISMATCH"),
    "request_id_mismatch": Code("5305", "E10305", "RCS_HPP_REQUESTID_MISMATCH"),
    "user_cancelled": Code("5306", "E10306", "RCS_HPP_USERACTION_CANCELLED"),
    "token_expired": Code("5307", "E10307", "RCS_HPPTOKEN_EXPIRED"),
    "subscription_not_enabled": Code("5308", "E10308", "RCS_HPP_SUBSCRIPTION_ISNOT_ENABLED"),
    "user_timeout": Code("5309", "E10309", "RCS_HPP_USERACTION_TIMEOUT"),
    "user_rejected": Code("5310", "E10310", "RCS_USER_REJECTED"),
    # Known message, invented codes.
    "unauthorized": Code("5110", "E10110", "RCS_USER_IS_NOT_AUTHZ_TO_ACCESS_API"),
    "no_route": Code("5212", "E10212", "RCS_NO_ROUTE_FOUND"),
    # Entirely invented: no public source shows these situations.
    "invalid_request": Code("5001", "E10001", "RCS_INVALID_PARAMETER"),
    # Situations with no documented answer, mapped to the documented "not allowed" code.
    "refund_exceeds": Code("5222", "E10235", "We are sorry this Operation is not Allowed at this moment"),
    "duplicate_reference": Code("5222", "E10235", "We are sorry this Operation is not Allowed at this moment"),
}

# The `params` shape of failures as captured: [] for issuer declines and RCS_TRAN_NOT_FOUND (S9),
# absent for RCS_TRAN_ALREADY_CANCELLED (the docs' refund error example), {} otherwise (S3).
DOCUMENTED_FAILURE_SHAPES: dict[str, ParamsShape] = {
    "issuer_declined": "list",
    "not_found": "list",
    "no_route": "list",
    "user_rejected": "list",
    "already_cancelled": "absent",
}

# Messages that carry their detail in parentheses, e.g.
# "RCS_TRAN_FAILED_AT_ISSUER_SYSTEM (User Aborted, TransactionId: 25446479)".
_DETAIL_IN_MESSAGE = frozenset({"issuer_declined", "invalid_request", "user_rejected"})


@dataclass(frozen=True)
class Reply:
    """One answer of the /asm endpoint before rendering: a code name, params and an optional detail."""

    code_name: str
    params: Mapping[str, Any] | None = None
    detail: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.code_name == "success"


class WaafiPayError(Exception):
    """A failure answer raised by a service handler; the API layer renders it as an envelope."""

    def __init__(self, code_name: str, detail: str | None = None) -> None:
        if code_name not in DEFAULT_CODES:
            raise KeyError(code_name)
        super().__init__(f"{code_name}: {detail}" if detail else code_name)
        self.code_name = code_name
        self.detail = detail

    @property
    def reply(self) -> Reply:
        return Reply(self.code_name, None, self.detail)


def invalid(field: str, problem: str) -> WaafiPayError:
    return WaafiPayError("invalid_request", f"{field} {problem}")


class CodeBook:
    """The default codes with the configured overrides applied."""

    def __init__(self, overrides: Mapping[str, tuple[str, str, str]] | None = None) -> None:
        self._codes = dict(DEFAULT_CODES)
        for name, (response_code, error_code, message) in (overrides or {}).items():
            if name not in DEFAULT_CODES:
                raise ValueError(f"unknown code name {name!r}")
            self._codes[name] = Code(response_code, error_code, message)

    def __getitem__(self, name: str) -> Code:
        return self._codes[name]

    def message(self, reply: Reply) -> str:
        base = self._codes[reply.code_name].message
        if reply.detail and reply.code_name in _DETAIL_IN_MESSAGE:
            return f"{base} ({reply.detail})"
        return base

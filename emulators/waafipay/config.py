"""Configuration of the WaafiPay emulator. Defaults follow the reference; guesses are switchable."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from emulators.waafipay.codes import ParamsShape

DuplicateReferencePolicy = Literal["replay", "reject", "allow"]
RepeatedCommit = Literal["replay", "not_found"]
FailureParams = Literal["documented"] | ParamsShape
AmountJson = Literal["number_or_string", "number", "string"]

# Sandbox wallets quoted from docs.waafipay.com/quickstart; every one has PIN 1212.
SANDBOX_WALLETS: tuple[str, ...] = (
    "252611111111",  # EVCPlus
    "252631111111",  # ZAAD
    "252901111111",  # SAHAL
    "253771111111",  # WAAFI Djibouti
    "9715111111111",  # WAAFI International
)
SANDBOX_PIN = "1212"

# Issuer texts embedded in "RCS_TRAN_FAILED_AT_ISSUER_SYSTEM (<text>, TransactionId: N)".
# "{balance}" is replaced by the wallet balance.
DEFAULT_ISSUER_TEXTS: dict[str, str] = {
    "reject": "STATE: rejected, ERRCODE: 4004 - User Aborted",
    "insufficient": "STATE: declined, ERRCODE: 8001 - Hadhaagaagu kuguma filna. Hadhaagaagu waa {balance}",
    "wrong_pin": "Invalid PIN code",
    "timeout": "Dialog Timedout",
    "not_found": "Subscriber not found",
    "hpp_declined": "RCS_PAYMENTBROKER_REQUEST_FAILED",
}


@dataclass
class WaafiPayEmulatorConfig:
    # Base URL the emulator is reachable at (".../waafipay" inside the hub); HPP URLs use it.
    public_base_url: str = "http://127.0.0.1:8090"
    # Multiplies every payer delay, the PIN dialog timeout and the HPP timeout (e.g. 0.01 in tests).
    time_scale: float = 1.0
    # The hosted page must be completed within this many seconds (docs: 5 minutes), else 5309.
    hpp_timeout_s: float = 300.0
    # How long a payer takes to answer the PIN push when their behaviour names no delay.
    payer_response_s: float = 5.0
    # How long the issuer waits for the PIN before "Dialog Timedout" (undocumented; the reference
    # suggests about 60 s).
    pin_timeout_s: float = 60.0
    # Create the sandbox test wallets (PIN 1212) with this balance; reset restores them.
    seed_sandbox_wallets: bool = True
    sandbox_wallet_balance: Decimal = Decimal("1000.00")
    # Numbers starting with one of these are routable; others answer RCS_NO_ROUTE_FOUND.
    routable_prefixes: tuple[str, ...] = ("252", "253", "971")
    # A routable number that is not a registered wallet: "Subscriber not found" (False), or a new
    # wallet with `auto_wallet_balance` and the sandbox PIN (True).
    auto_create_wallets: bool = False
    auto_wallet_balance: Decimal = Decimal("1000.00")
    # What a repeated transactionInfo.referenceId does (undocumented): "replay" answers the first
    # attempt again when the parameters match (joining it while the payer is still deciding) and
    # rejects different parameters; "reject" refuses every repeat; "allow" starts a new payment.
    # A repeat after a failed attempt is always a new attempt.
    duplicate_reference: DuplicateReferencePolicy = "replay"
    # What a repeated API_PREAUTHORIZE_COMMIT of a hold already committed answers (undocumented):
    # "replay" answers the first commit again (2001, same commit transactionId, no second capture);
    # "not_found" answers 5213 RCS_TRAN_NOT_FOUND (the hold is no longer open), as a cancel after a
    # commit does. Neither captures twice.
    repeated_commit: RepeatedCommit = "replay"
    # API_REFUND: a referenceId that differs from the original's and repeats an earlier refund's
    # (same amount) answers that refund again instead of refunding twice.
    refund_reference_replay: bool = False
    # Also echo the request's requestId and "sessionId": null (2021-22 responses), next to responseId.
    echo_request_id: bool = True
    # `params` of failures: "documented" ([] for declines and 5213, absent for 5202, {} otherwise),
    # or always "object", "list" or "absent".
    failure_params: FailureParams = "documented"
    # Enforce the documented referenceId charset (letters, digits, "-", "_", "."). Off by default:
    # the docs' own HPP_GETTRANINFO example uses "WS:6671753970".
    strict_reference_id: bool = False
    # The JSON type amounts must have. Seeds 001/002 type every amount Number (and the HPP_PURCHASE example
    # sends 10), but the HPP_REFUNDPURCHASE example sends "10"; reference A8: "accepted as number or
    # string". "number_or_string" accepts what the documents show; "number" holds to the type tables
    # (a string is 5001); "string" holds to the refund example (a number is 5001).
    amount_json: AmountJson = "number_or_string"
    # Decimal places amounts are truncated to (docs: 2).
    amount_decimals: int = 2
    # Truncate further for currencies with fewer ISO 4217 minor digits (DJF -> whole francs).
    truncate_to_currency_exponent: bool = True
    # HPP_GETTRANINFO also finds API_PURCHASE / API_PREAUTHORIZE transactions of the merchant.
    tran_info_includes_api: bool = False
    # HPP_GETRESULTINFO answers a cancelled / timed-out page with top-level 5306 / 5309 instead of
    # 2001 + state DECLINED with that procCode.
    hpp_result_errors_top_level: bool = False
    # A payer's "reject" answers 5310 RCS_USER_REJECTED instead of 5206 "User Aborted".
    reject_as_user_rejected: bool = False
    # HPP_PURCHASE with MWALLET_ACCOUNT accepts a missing payerInfo.subscriptionId. Seed 002 marks it
    # "Required for MWALLET_ACCOUNT payment method", so by default it is refused (5001).
    hpp_subscription_id_optional: bool = False
    # Payment methods an HPP store accepts unless register_merchant says otherwise.
    hpp_payment_methods: tuple[str, ...] = ("MWALLET_ACCOUNT", "CREDIT_CARD", "MWALLET_BANKACCOUNT")
    # Replace any code by name (see codes.DEFAULT_CODES): {"no_route": ("5212", "E10212", "RCS_NO_ROUTE_FOUND")}.
    code_overrides: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    issuer_texts: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ISSUER_TEXTS))

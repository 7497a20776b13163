"""Configuration of the KESS emulator. Defaults follow the reference; [INF] choices are switchable."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Default endpoint paths. KESS does not publish its paths, so these are the emulator's own choice;
#: the client's settings default to the same values.
DEFAULT_PATHS: dict[str, str] = {
    "token": "/api/mch/token",
    "native_pay": "/api/mch/native_pay",
    "quick_pay": "/api/mch/quick_pay",
    "jsapi_pay": "/api/mch/jsapi_pay",
    "refund": "/api/mch/refund",
    "payment_status": "/api/mch/check_payment_status",
    "refund_status": "/api/mch/check_refund_status",
    "close": "/api/mch/close",
    "revoke": "/api/mch/revoke",
}

#: service_id -> wallet. 30 returns a WeChat code in KESS's native pay sample; 2 is Alipay on the
#: older page.
DEFAULT_SERVICES: dict[int, str] = {30: "WECHAT", 2: "ALIPAY"}

#: Quick-pay auth-code prefixes -> scripted buyer behaviour (first match wins, longest first).
#: Codes matching no prefix pay at once.
DEFAULT_QUICK_PAY_SCRIPTS: dict[str, str] = {
    "1400": "userpaying_then_success",
    "1401": "userpaying_timeout",
    "1402": "authcodeexpire",
    "1403": "notenough",
    "1404": "userpaying_then_payerror",
}


FAILURE_ENVELOPES = frozenset({"success_false", "result_code_fail", "result_code_fail_bare"})
ID_TYPES = frozenset({"any", "as_seed", "text"})
#: The JSON type seed 004's examples print each id in, per operation ("number" or "text"); "as_seed"
#: refuses any other. store_id is text in the pay and refund bodies but a number in the status checks.
SEED_ID_TYPES: dict[str, dict[str, str]] = {
    "native_pay": {"store_id": "text", "sub_store_id": "number", "auth_code": "number"},
    "quick_pay": {"store_id": "text", "sub_store_id": "number", "auth_code": "number"},
    "jsapi_pay": {"store_id": "text", "sub_store_id": "number", "auth_code": "number"},
    "refund": {"store_id": "text"},
    "payment_status": {"store_id": "number"},
    "refund_status": {"store_id": "number"},
}


@dataclass
class KessEmulatorConfig:
    # Base URL the emulator is reachable at (informational; KESS builds no URLs of its own).
    public_base_url: str = "http://127.0.0.1:8070/kess"
    # Multiplies every duration below when the emulator measures or waits for it (token lifetime,
    # quick-pay polling and limits, native QR lifetime, refund delay): 0.01 runs 45 s in 0.45 s.
    time_scale: float = 1.0
    # API token lifetime ("This token will expire in a minute").
    token_ttl_s: float = 60.0
    # HS256 key of the tokens; random per emulator when None.
    jwt_secret: bytes | None = None
    jwt_issuer: str = "www.kesspay.com"
    # Endpoint paths (see DEFAULT_PATHS); override single entries to match a real deployment.
    paths: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PATHS))
    services: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_SERVICES))
    # Lifetime of an unpaid native / JSAPI order (WeChat's dynamic code: about 2 hours); then CLOSED.
    native_order_ttl_s: float = 2 * 3600
    # Quick pay: how long KESS keeps polling the wallet inside the HTTP request, and how often. A bit
    # under the 45 s client timeout KESS advises, so the answer (USERPAYING) reaches the client.
    quick_pay_hold_s: float = 40.0
    quick_pay_poll_interval_s: float = 3.0
    # Quick pay orders still unpaid this long after creation are revoked (WeChat: 45 s).
    quick_pay_revoke_after_s: float = 45.0
    # How long a scripted "userpaying_then_*" buyer takes to enter the PIN.
    pin_delay_s: float = 6.0
    quick_pay_scripts: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_QUICK_PAY_SCRIPTS))
    # Whether the response `amount` is the buyer's total (amount + fee_rate uplift) instead of the
    # merchant amount as sent. `total_amount` and `fee_amount` are always present.
    amount_includes_fee: bool = False
    # Seconds from a refund request to its completion: 0 answers SUCCESS at once; None leaves it
    # PROCESSING until POST /control/refunds/{out_refund_no}/succeed or /fail.
    refund_delay_s: float | None = 0.0
    # How a refusal is enveloped (seed 004 shows only successes, so this is an ambiguity):
    #   "success_false"         {"success": false, "data": {result_code FAIL, err_code, err_code_des, ...}}
    #   "result_code_fail"      {"success": true, "data": {seed 004's fields, result_code FAIL, err_code, ...}}
    #   "result_code_fail_bare" {"success": true, "data": {"result_code": "FAIL"}}: nothing else said
    failure_envelope: str = "success_false"
    # CHECK REFUND STATUS: seed 004 documents only `out_trade_no` (the payment's order number).
    #   "out_trade_no"  (default, the seed) answers the order's latest refund; an `out_refund_no` is ignored
    #   "out_refund_no" answers the refund an `out_refund_no` names, when one is sent
    refund_status_by: str = "out_trade_no"
    # Seed 004: "Get API token before every requests."
    #   "single"       (default) each token is taken for one business request; a second use answers 401
    #   "until_expiry" a token may be reused until it expires
    # Close and revoke are not in seed 004. False (default): their paths answer as an unknown path does
    # (HTTP 404 {"success": false, "message": "Not Found"}); True: they close / revoke as documented here.
    close_endpoint: bool = False
    token_use: str = "single"  # noqa: S105 - a mode, not a secret
    # NATIVE PAY's auth_code: seed 004's sample carries one without saying what it is.
    #   "ignored"  (default, the reference's reading) accepted or not, never checked
    #   "required" a native pay without auth_code is PARAM_ERROR
    native_auth_code: str = "ignored"
    # The JSON type of ids (store_id, sub_store_id, auth_code). Seed 004 is not consistent: store_id is a
    # string in the pay and refund examples and a number in the status checks; sub_store_id and the
    # (masked) auth_code are numbers.
    #   "any"     (default) a string or an integer, anywhere
    #   "as_seed" each id must have the type its section's example prints (SEED_ID_TYPES): PARAM_ERROR else
    #   "text"    every id must be a JSON string (WeChat's own typing): PARAM_ERROR for a number
    id_types: str = "any"
    # How often due work (expiry, scripted PIN entry, delayed refunds) runs in the background.
    sweep_interval_s: float = 0.5
    # The zone of the timestamps it writes without an offset (time_end, time_expire): not documented;
    # KESS is in Cambodia (Asia/Phnom_Penh, UTC+7) and WeChat writes Beijing time.
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if self.failure_envelope not in FAILURE_ENVELOPES:
            raise ValueError(f"failure_envelope must be one of {sorted(FAILURE_ENVELOPES)}")
        if self.token_use not in ("single", "until_expiry"):
            raise ValueError("token_use must be single or until_expiry")
        if self.native_auth_code not in ("ignored", "required"):
            raise ValueError("native_auth_code must be ignored or required")
        if self.id_types not in ID_TYPES:
            raise ValueError(f"id_types must be one of {sorted(ID_TYPES)}")
        if self.refund_status_by not in ("out_trade_no", "out_refund_no"):
            raise ValueError("refund_status_by must be out_trade_no or out_refund_no")

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    def path(self, operation: str) -> str:
        return self.paths.get(operation, DEFAULT_PATHS[operation])

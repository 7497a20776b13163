"""The README's review-queue screenshots, taken again from a real local stack: ``make screenshots``.

It starts ``billing dev`` on free loopback ports with its data in a temporary directory, makes two orders
reach NEEDS_REVIEW through a provider answering HTTP 500 (``billing emulators fault`` + ``billing order
create --dev-windows``, as the README's "Faults and review in a minute" does), one order PAID and a
subscription PAST_DUE (its renewal declined), waits for them, and writes:

* ``docs/images/review-queue-ui.png``: the Temporal UI's workflow list filtered ``BillingStatus="NEEDS_REVIEW"``;
* ``docs/images/review-queue-cli.png``: the output of ``billing review``, rendered as a terminal page (the
  text is printed too, for the README).

Both pictures are taken by headless Chromium (``--chromium``, default ``/usr/bin/chromium``). Every process
the script starts is stopped at the end, by its process id.

    .venv/bin/python scripts/screenshots.py [--out docs/images] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from host.serving import free_port  # noqa: E402

#: The orders the provider never answers about: (order id, amount).
REVIEW_ORDERS = (("ORD-R1", "5.00"), ("ORD-R2", "42.50"))
PAID_ORDER = ("ORD-P1", "12.00")
PAST_DUE_SUBSCRIPTION = "SUB-7"
WINDOW = "1400,900"


def _env(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BILLING_", "OTEL_"))}
    env.update({f"BILLING_DEV_{name}": str(port) for name, port in ports.items()})
    env["BILLING_DEV_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(REPO)
    return env


def billing(env: dict[str, str], *argv: str, ok: tuple[int, ...] = (0,), columns: int = 200) -> str:
    """``billing ARGV``: its standard output; exits with its output when the exit code is not in ``ok``."""
    result = subprocess.run(  # noqa: S603 - argv is this script's own
        [sys.executable, "-m", "starter.cli", *argv],
        env=dict(env, COLUMNS=str(columns)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode not in ok:
        sys.exit(f"billing {' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@contextmanager
def dev_stack(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``billing dev`` as a child process; yields its banner. Stopped with SIGINT (then SIGKILL) by pid."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "dev"],
            env=dict(env, COLUMNS="200"),
            cwd=log_path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C" not in (banner := log_path.read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"billing dev did not start (exit {proc.poll()}):\n{banner}")
            time.sleep(0.5)
        yield banner
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"gave up waiting for {what}")
        time.sleep(2)


def listed(env: dict[str, str], status: str) -> set[str]:
    answer: Any = json.loads(billing(env, "order", "list", "--status", status, "--json"))
    return {item["order_id"] for item in answer["orders"]}


def subscription_status(env: dict[str, str], subscription_id: str) -> str:
    return str(json.loads(billing(env, "subscription", "show", subscription_id, "--json"))["status"])


def screenshot(chromium: str, url: str, out: Path, profile: Path, window: str = WINDOW) -> None:
    """One picture of ``url`` by headless Chromium, given virtual time to render."""
    out.unlink(missing_ok=True)
    subprocess.run(  # noqa: S603 - argv is this script's own
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={window}",
            "--virtual-time-budget=15000",
            f"--screenshot={out}",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if not out.exists() or out.stat().st_size == 0:
        sys.exit(f"chromium wrote no picture of {url}")


def terminal_page(command: str, text: str) -> str:
    return (
        "<!doctype html><meta charset='utf-8'><style>"
        "body{margin:0;background:#1e1e1e;color:#d4d4d4}"
        "pre{margin:0;padding:24px;font:15px/1.45 'DejaVu Sans Mono',monospace;white-space:pre}"
        ".prompt{color:#6a9955}</style><pre>"
        f"<span class='prompt'>$</span> {html.escape(command)}\n{html.escape(text)}</pre>"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="where the pictures go")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium binary")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="billing-screenshots-") as tmp:
        root = Path(tmp)
        ports = {name: free_port() for name in ("TEMPORAL_PORT", "UI_PORT", "EMULATOR_PORT", "HTTP_PORT")}
        env = _env(root / "dev", ports)
        print(f"billing dev on ports {ports}, data in {root / 'dev'}")
        with dev_stack(env, root / "dev.log"):
            order, amount = PAID_ORDER
            billing(env, "order", "create", "--order-id", order, "--amount", amount, "--currency", "USD",
                    "--customer-id", "C1", "--customer-email", "c1@example.com")  # fmt: skip
            billing(env, "emulators", "pay", "waffo", order)
            for order, amount in REVIEW_ORDERS:
                billing(env, "emulators", "fault", "waffo", order, "http-500", "--count", "1000")
                billing(env, "order", "create", "--order-id", order, "--amount", amount, "--currency", "USD",
                        "--customer-id", "C2", "--customer-email", "c2@example.com", "--dev-windows",
                        ok=(0, 4))  # fmt: skip
            subscription = PAST_DUE_SUBSCRIPTION
            billing(env, "subscription", "create", "--subscription-id", subscription, "--plan-id", "basic",
                    "--amount", "9.99", "--currency", "USD", "--customer-id", "C3",
                    "--customer-email", "c3@example.com")  # fmt: skip
            billing(env, "emulators", "pay", "waffo", subscription, "--subscription")
            until("ACTIVE", lambda: subscription_status(env, subscription) == "ACTIVE", timeout=60)
            billing(env, "emulators", "renew", "waffo", subscription, "--fail")
            print("waiting for the orders to reach NEEDS_REVIEW (about a minute)")
            wanted = {order for order, _ in REVIEW_ORDERS}
            until("NEEDS_REVIEW", lambda: listed(env, "NEEDS_REVIEW") >= wanted, timeout=240)
            until("PAID", lambda: PAID_ORDER[0] in listed(env, "PAID"), timeout=60)
            until("PAST_DUE", lambda: subscription_status(env, subscription) == "PAST_DUE", timeout=60)

            review = billing(env, "review", ok=(0, 4), columns=110)
            print(review)
            page = root / "review.html"
            page.write_text(terminal_page("billing review", review))
            height = 60 + 21 * (review.count("\n") + 1)  # the page's lines, 21 px each
            cli_png = args.out / "review-queue-cli.png"
            screenshot(args.chromium, page.as_uri(), cli_png, root / "chromium", window=f"1400,{height}")

            query = urllib.parse.quote('BillingStatus="NEEDS_REVIEW"')
            url = f"http://127.0.0.1:{ports['UI_PORT']}/namespaces/default/workflows?query={query}"
            screenshot(args.chromium, url, args.out / "review-queue-ui.png", root / "chromium")
    print(f"wrote {args.out / 'review-queue-ui.png'} and {args.out / 'review-queue-cli.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The chaos run's report: a readable table (rich) or one JSON document."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from starter.chaos.invariants import INVARIANTS


def print_report(data: dict[str, Any], console: Console) -> None:
    run = data["run"]
    console.print(
        f"[bold]Chaos run[/] seed {run['seed']}: {run['orders']} orders, {run['subscriptions']} subscriptions "
        f"({run['period_orders']} period orders), {run['elapsed_s']:.0f} s, settled: {run['settled']}"
        f" ({run['unsettled_count']} not), unreadable: {len(run['unreadable'])}",
        highlight=False,
    )

    states = Table(title="Final states per provider")
    states.add_column("provider")
    statuses = sorted({s for per in data["states"].values() for s in per})
    for status in statuses:
        states.add_column(status, justify="right")
    for provider, per in sorted(data["states"].items()):
        states.add_row(provider, *(str(per.get(status, 0)) for status in statuses))
    console.print(states)

    chaos = data["chaos"]
    done = Table(title="Chaos injected")
    done.add_column("what")
    done.add_column("count", justify="right")
    for label, count in chaos["faults"].items():
        done.add_row(f"fault {label}", str(count))
    for what in ("kills", "restarts"):
        for name, count in chaos[what].items():
            done.add_row(f"{what[:-1]} {name}", str(count))
    for label, count in chaos["hostile"].items():
        done.add_row(f"hostile {label}", str(count))
    for label, count in chaos["refund_attempts"].items():
        done.add_row(f"merchant {label}", str(count))
    for label, count in chaos["customer"].items():
        done.add_row(f"customer {label}", str(count))
    console.print(done)

    invariants = Table(title="Invariants (checked against the emulators' ledgers)")
    invariants.add_column("invariant")
    invariants.add_column("violations", justify="right")
    invariants.add_column("first subjects")
    by_kind = Counter(v["invariant"] for v in data["violations"])
    for name in INVARIANTS:
        subjects = [v["subject"] for v in data["violations"] if v["invariant"] == name][:3]
        mark = "[green]ok[/]" if not by_kind[name] else f"[red]{by_kind[name]}[/]"
        invariants.add_row(name, mark, ", ".join(subjects))
    console.print(invariants)

    if data["violations"]:
        details = Table(title="Violations")
        for column in ("invariant", "subject", "provider", "detail"):
            details.add_column(column, overflow="fold")
        for violation in data["violations"][:50]:
            details.add_row(violation["invariant"], violation["subject"], violation["provider"], violation["detail"])
        console.print(details)
        if len(data["violations"]) > 50:
            console.print(f"... and {len(data['violations']) - 50} more (--json has all)")

    review = Table(title="NEEDS_REVIEW (not violations: an operator decides)")
    review.add_column("provider")
    review.add_column("count", justify="right")
    review.add_column("subject: reason", overflow="fold")
    per_provider: dict[str, list[dict[str, str]]] = {}
    for item in data["needs_review"]:
        per_provider.setdefault(item["provider"], []).append(item)
    for provider in sorted(per_provider):
        items = per_provider[provider]
        review.add_row(provider, str(len(items)), "\n".join(f"{i['subject']}: {i['reason']}" for i in items[:10]))
    if not per_provider:
        review.add_row("-", "0", "")
    console.print(review)
    verdict = "[green]no violation[/]" if not data["violations"] else f"[red]{len(data['violations'])} violations[/]"
    console.print(f"Result: {verdict}. Replay with --seed {run['seed']}. Logs: {run['data_dir']}", highlight=False)

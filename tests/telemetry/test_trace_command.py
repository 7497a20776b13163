"""`billing trace` on real console output: one paid order recorded from `billing dev` (HTTP service and worker
logs, spans mixed with log lines) and the CLI's `order create` (its table, then its span)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from starter import traces
from starter.cli import app
from tests.support.traces import find_span

DATA = Path(__file__).parent / "data"
FILES = [str(DATA / name) for name in ("worker.log", "http.log", "create.out")]


def test_one_paid_order_is_one_tree_across_three_processes() -> None:
    result = CliRunner().invoke(app, ["trace", *FILES, "--workflow-id", "order-ORD-1001", "--json"])
    assert result.exit_code == 0, result.output
    (root,) = json.loads(result.output)
    assert (root["name"], root["service"]) == ("StartUpdateWithStartWorkflow:OrderWorkflow", "billing-cli")
    activity = find_span(root, "RunActivity:payments.create")
    assert activity is not None and activity["service"] == "billing-worker"
    (call,) = activity["children"]
    assert call["name"] == "waffo create_payment"
    assert call["attributes"]["billing.provider_code"] == "0"
    handled = find_span(root, "HandleSignal:payment_event")
    assert handled is not None
    (webhook,) = handled["linked"]
    assert (webhook["name"], webhook["service"]) == ("POST /webhooks/{provider}/orders/{order_id}", "billing-http")
    assert webhook["attributes"]["billing.outcome"] == "signalled"
    assert [child["name"] for child in webhook["children"]] == ["SignalWorkflow:payment_event"]


def test_the_tree_as_text_and_from_stdin() -> None:
    text = "".join(Path(name).read_text() for name in FILES)
    result = CliRunner().invoke(app, ["trace", "-"], input=text)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("trace 0x")
    assert lines[1].startswith("StartUpdateWithStartWorkflow:OrderWorkflow  [billing-cli]  +0 ms")
    calls = [line for line in lines if "waffo create_payment" in line]
    assert len(calls) == 1
    assert calls[0].startswith("│     └─ waffo create_payment  [billing-worker]")
    assert "code=0 http=200" in calls[0]
    assert any("⇠ linked trace" in line for line in lines)
    assert lines[-1].lstrip().startswith("└─ SignalWorkflow:payment_event  [billing-http]")
    assert len([line for line in lines if line.startswith("trace ")]) == 1, "the webhook's trace hangs in the order's"


def test_nothing_to_show_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("2026-11-22 INFO nothing traced here\n{not json}\n")
    result = CliRunner().invoke(app, ["trace", str(empty)])
    assert result.exit_code == 1
    missing = CliRunner().invoke(app, ["trace", str(tmp_path / "missing.log")])
    assert missing.exit_code == 2
    unmatched = CliRunner().invoke(app, ["trace", *FILES, "--trace-id", "0xffff"])
    assert unmatched.exit_code == 1


def _span(name: str, trace: str, span: str, parent: str | None = None, links: tuple[tuple[str, str], ...] = ()) -> str:
    document = {
        "name": name,
        "context": {"trace_id": trace, "span_id": span, "trace_state": "[]"},
        "kind": "SpanKind.INTERNAL",
        "parent_id": parent,
        "start_time": f"2026-11-22T04:40:0{span[-1]}.000000Z",
        "end_time": f"2026-11-22T04:40:0{span[-1]}.500000Z",
        "status": {"status_code": "UNSET"},
        "attributes": {},
        "links": [{"context": {"trace_id": t, "span_id": s}, "attributes": {}} for t, s in links],
        "resource": {"attributes": {"service.name": "svc"}},
    }
    return json.dumps(document, indent=4) + "\n"


def test_orphans_are_roots_truncated_objects_are_skipped_and_links_never_loop() -> None:
    text = (
        "log line\n"
        + _span("a", "0xA", "0x1", links=(("0xB", "0x3"),))
        + '{\n    "name": "truncated",\n'
        + _span("orphan", "0xA", "0x2", parent="0x9")
        + "another log line\n"
        + _span("b", "0xB", "0x3", links=(("0xA", "0x1"),))
    )
    spans = traces.read_spans(text)
    assert [span.name for span in spans] == ["a", "orphan", "b"]
    roots = traces.build_forest(spans)
    assert [root.name for root in roots] == ["a", "orphan"]
    assert [linked.name for linked in roots[0].linked] == ["b"]
    assert roots[0].linked[0].linked == [], "b links back to a, whose trace already holds b's"
    rendered = [line.strip("│├└─⇠ ").split("  [")[0] for line in traces.render(roots).splitlines() if "[svc]" in line]
    assert rendered == ["a", "b", "orphan"]

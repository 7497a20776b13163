"""``billing trace``: spans printed by ``OTEL_TRACES_EXPORTER=console`` in several processes, as one tree.

The CLI, the HTTP service and the worker each print their spans as JSON objects (OpenTelemetry's
``ConsoleSpanExporter``), mixed with their other output. :func:`read_spans` picks the span objects out of
such text; :func:`build_forest` joins them by trace and parent ids. A span that *links* to a span of another
trace (the workflow's ``HandleSignal`` links to the webhook's ``SignalWorkflow``) gets that other trace
grafted under it, so an order reads as one tree from the create call through the webhook to its handling.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Attributes worth a place on a tree line, with their short names.
KEY_ATTRIBUTES = {
    "temporalWorkflowID": "workflow",
    "billing.provider": "provider",
    "billing.operation": "operation",
    "billing.provider_api": "api",
    "billing.route": "route",
    "billing.outcome": "outcome",
    "billing.provider_code": "code",
    "http.response.status_code": "http",
    "error.type": "error",
}


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    start: datetime
    end: datetime
    status: str
    kind: str
    attributes: dict[str, Any]
    links: list[tuple[str, str]]  # (trace id, span id)
    children: list[Span] = field(default_factory=list)
    linked: list[Span] = field(default_factory=list)  # roots of other traces this span links to

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Span:
        context = document["context"]
        resource = (document.get("resource") or {}).get("attributes") or {}
        links = [
            (link["context"]["trace_id"], link["context"]["span_id"])
            for link in document.get("links") or []
            if isinstance(link, dict) and isinstance(link.get("context"), dict)
        ]
        return cls(
            name=str(document["name"]),
            trace_id=str(context["trace_id"]),
            span_id=str(context["span_id"]),
            parent_id=document.get("parent_id"),
            service=str(resource.get("service.name", "?")),
            start=datetime.fromisoformat(document["start_time"]),
            end=datetime.fromisoformat(document["end_time"]),
            status=str((document.get("status") or {}).get("status_code", "UNSET")),
            kind=str(document.get("kind", "")).removeprefix("SpanKind."),
            attributes=dict(document.get("attributes") or {}),
            links=links,
        )


def _is_span(document: object) -> bool:
    return (
        isinstance(document, dict)
        and isinstance(document.get("context"), dict)
        and "span_id" in document["context"]
        and "name" in document
        and "start_time" in document
        and "end_time" in document
    )


def read_spans(text: str) -> list[Span]:
    """Every span object in ``text``: JSON objects starting at a line's first column, other lines skipped."""
    decoder = json.JSONDecoder()
    spans: list[Span] = []
    position = 0
    while position < len(text):
        if text.startswith("{", position):
            try:
                document, end = decoder.raw_decode(text, position)
            except ValueError:
                document, end = None, position
            if end > position and _is_span(document):
                spans.append(Span.from_json(document))
                position = end
                continue
        newline = text.find("\n", position)
        if newline < 0:
            break
        position = newline + 1
    return spans


def build_forest(spans: Iterable[Span]) -> list[Span]:
    """The top-level spans, each with its children (by parent id) and linked traces, sorted by start time.

    A span whose parent is not in the input is a root. A trace is grafted under the first span (by start
    time) that links into it, unless that would put a trace inside itself; grafted traces are not top level.
    """
    by_id: dict[str, Span] = {}
    for span in spans:
        by_id.setdefault(span.span_id, span)
    roots: dict[str, list[Span]] = {}
    for span in by_id.values():
        parent = by_id.get(span.parent_id) if span.parent_id else None
        if parent is not None and parent is not span:
            parent.children.append(span)
        else:
            roots.setdefault(span.trace_id, []).append(span)
    for span in by_id.values():
        span.children.sort(key=lambda child: child.start)

    grafted_into: dict[str, str] = {}  # trace id -> the trace it hangs in

    def hangs_in(trace: str, target: str) -> bool:
        while trace in grafted_into:
            trace = grafted_into[trace]
            if trace == target:
                return True
        return False

    for span in sorted(by_id.values(), key=lambda s: s.start):
        for trace_id, _ in span.links:
            if trace_id == span.trace_id or trace_id in grafted_into or trace_id not in roots:
                continue
            if hangs_in(span.trace_id, trace_id):
                continue
            grafted_into[trace_id] = span.trace_id
            span.linked.extend(sorted(roots[trace_id], key=lambda s: s.start))
    top = [root for trace_id, members in roots.items() if trace_id not in grafted_into for root in members]
    return sorted(top, key=lambda s: s.start)


def contains(span: Span, predicate: Any) -> bool:
    return bool(predicate(span)) or any(contains(child, predicate) for child in (*span.children, *span.linked))


def _attributes(span: Span) -> str:
    words = []
    for key, short in KEY_ATTRIBUTES.items():
        if key in span.attributes:
            words.append(f"{short}={span.attributes[key]}")
    return " ".join(words)


def render(roots: list[Span]) -> str:
    """An indented tree: name, service, start offset from its top-level span, duration, key attributes."""
    lines: list[str] = []

    def line(span: Span, prefix: str, origin: datetime, marker: str) -> None:
        offset = (span.start - origin).total_seconds() * 1000
        status = " ERROR" if span.status == "ERROR" else ""
        text = f"{prefix}{marker}{span.name}  [{span.service}]  +{offset:.0f} ms  {span.duration_ms:.1f} ms{status}"
        attributes = _attributes(span)
        lines.append(f"{text}  {attributes}" if attributes else text)

    def walk(span: Span, prefix: str, last: bool, origin: datetime, top: bool = False) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        line(span, prefix, origin, branch)
        inner = prefix if top else prefix + ("   " if last else "│  ")
        items: list[tuple[Span, bool]] = [(child, False) for child in span.children]
        items += [(linked, True) for linked in span.linked]
        for index, (child, is_link) in enumerate(items):
            is_last = index == len(items) - 1
            if is_link:
                lines.append(f"{inner}{'└─ ' if is_last else '├─ '}⇠ linked trace {child.trace_id[:12]}…")
                walk(child, inner + ("   " if is_last else "│  "), True, origin)
            else:
                walk(child, inner, is_last, origin)

    for index, root in enumerate(roots):
        if index:
            lines.append("")
        lines.append(f"trace {root.trace_id}")
        walk(root, "", True, root.start, top=True)
    return "\n".join(lines)


def to_json(span: Span) -> dict[str, Any]:
    return {
        "name": span.name,
        "service": span.service,
        "kind": span.kind,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "start": span.start.isoformat(),
        "duration_ms": round(span.duration_ms, 3),
        "status": span.status,
        "attributes": span.attributes,
        "children": [to_json(child) for child in span.children],
        "linked": [to_json(linked) for linked in span.linked],
    }

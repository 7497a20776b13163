"""The host side: what a process does around the domain, never the domain itself.

``billing/`` is the pure domain (rules, money, the vocabulary, the data converter); whatever starts,
connects, serves or supervises lives here, used by ``worker.py``, ``webhooks/`` and ``starter/``:

* :mod:`host.temporal`: connecting to Temporal (codec keys, tracing interceptor, metrics runtime), and
  waiting for a workflow to be quiet before a query;
* :mod:`host.devstacks`: the registry of running ``billing dev`` stacks on this machine (their codec keys);
* :mod:`host.telemetry` and :mod:`host.metrics`: installing the OpenTelemetry SDK and its exporters from
  ``OTEL_*``, and the Temporal runtime that exports the SDK's and the workflows' metrics;
* :mod:`host.serving`: ASGI apps served in-process on loopback, child processes managed by process id.
* :mod:`host.logs`: a process's ``main`` (:func:`host.logs.run_process`) and its logging: one handler on
  stderr, JSON lines or text, personal data and secrets redacted (``BILLING_LOG_*``).

``billing/`` never imports this package (``tests/billing/test_pure_domain.py``).
"""

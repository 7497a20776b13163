"""The chaos suite: an adversarial run of the whole engine with invariants checked against the ledgers.

``stack`` starts and kills the processes, ``faults`` injects provider faults and hostile callbacks,
``workload`` plays the customers and the merchant, ``invariants`` checks the outcome, ``report`` shows it,
``main`` ties them together (``scripts/chaos.py``, ``billing chaos``, ``make chaos``).
"""

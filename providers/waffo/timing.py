"""Waffo's timings, without imports: the engine derives its call limits from them.

Every Waffo call answers at once (the payer acts on Waffo's page, and the outcome arrives by
notification); the client's read timeout (``BILLING_WAFFO_READ_TIMEOUT``, 30 s) is the longest wait.
"""

from __future__ import annotations

from datetime import timedelta

#: The longest one Waffo call may wait for its answer.
LONGEST_WAIT = timedelta(seconds=30)

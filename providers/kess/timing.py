"""KESS's timings, without imports: the engine derives its call limits from them.

Quick pay holds the request while the buyer enters the PIN, up to 45 s (seed 004); the client's quick-pay
read timeout (``BILLING_KESS_QUICK_PAY_TIMEOUT``, 60 s by default) covers that hold.
"""

from __future__ import annotations

from datetime import timedelta

#: The longest one KESS call may wait for its answer: quick pay, held while the buyer enters the PIN.
LONGEST_WAIT = timedelta(seconds=60)

#: How long quick pay holds the payment for the buyer's PIN before KESS revokes it (seed 004): the longest,
#: and the default, payment window of a quick-pay order.
QUICK_PAY_WINDOW = timedelta(seconds=45)

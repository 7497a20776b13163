"""WaafiPay's documented timings, without imports: the engine derives its call limits from them.

A wallet push (``API_PURCHASE``, ``API_PREAUTHORIZE``) blocks until the payer approves or declines on the
handset. No WaafiPay source documents how long the server waits; reference A7 recommends a client timeout
of at least 90-120 s, and the client's push timeout may not exceed :data:`LONGEST_WAIT`.
"""

from __future__ import annotations

from datetime import timedelta

#: The longest one WaafiPay call may wait for its answer: a wallet push waiting for the payer's PIN.
LONGEST_WAIT = timedelta(seconds=120)
#: The payer must finish on the hosted page within 5 minutes of its creation, else 5309
#: RCS_HPP_USERACTION_TIMEOUT (reference B "timing" [V S1]); an HPP order has no transaction until paid.
HPP_PAYER_WINDOW = timedelta(minutes=5)

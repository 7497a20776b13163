"""OrderWorkflow: one one-time order, from creation at the provider to the end of its refund window.

Workflow id ``order-{order_id}``. This module only declares the workflow (its name, run method, signals,
updates, validators and query); every handler delegates to the run's :class:`~workflows.order_flow.OrderFlow`,
which holds the order and does the work.

A worker imports this module once and every run shares the class (``worker.workflow_runner``); the
tests' checking sandbox imports it afresh for every run, and ``@workflow.defn`` then inspects the class
and resolves the type hints of every handler. So the module is kept small (the behaviour lives in
``workflows.order_flow`` and the parts it joins), and its annotations are plain objects, not postponed strings (no
``from __future__ import annotations``): a string annotation is compiled and evaluated on each import.
"""

from temporalio import workflow

from workflows import order_flow


@workflow.defn(name="OrderWorkflow")
class OrderWorkflow:
    @workflow.init
    def __init__(self, request: order_flow.CreateOrder) -> None:
        self.flow = order_flow.OrderFlow(request)

    @workflow.run
    async def run(self, request: order_flow.CreateOrder) -> order_flow.Order:
        return await self.flow.run()

    @workflow.signal
    def payment_event(self, event: order_flow.PaymentEvent) -> None:
        """A verified provider notification about this order's payment."""
        self.flow.payment_event(event)

    @workflow.signal
    def refund_event(self, event: order_flow.RefundEvent) -> None:
        """A verified provider notification about one of this order's refunds."""
        self.flow.refund_event(event)

    @workflow.signal
    def redirect_hint(self, hint: order_flow.RedirectHint) -> None:
        """The customer came back from the provider's page: inquire now, with what the browser brought."""
        self.flow.redirect_hint(hint)

    @workflow.signal
    def check_now(self) -> None:
        """A hint (unsigned callback, operator) that the provider may have news: inquire now."""
        self.flow.check_now()

    @workflow.update
    async def submit(self, request: order_flow.SubmitOrder) -> order_flow.Order:
        """Creation (update-with-start): returns once the provider call concluded, with the action."""
        return await self.flow.submit(request)

    @submit.validator
    def _validate_submit(self, request: order_flow.SubmitOrder) -> None:
        self.flow.validate_submit(request)

    @workflow.update
    async def capture(self, request: order_flow.CaptureRequest) -> order_flow.Order:
        return await self.flow.capture(request)

    @capture.validator
    def _validate_capture(self, request: order_flow.CaptureRequest) -> None:
        self.flow.validate_capture(request)

    @workflow.update
    async def cancel(self, request: order_flow.CancelRequest) -> order_flow.Order:
        return await self.flow.cancel(request)

    @cancel.validator
    def _validate_cancel(self, request: order_flow.CancelRequest) -> None:
        self.flow.validate_cancel(request)

    @workflow.update
    async def refund(self, request: order_flow.RefundRequest) -> order_flow.Refund:
        return await self.flow.refund(request)

    @refund.validator
    def _validate_refund(self, request: order_flow.RefundRequest) -> None:
        self.flow.validate_refund(request)

    @workflow.update
    def resolve(self, request: order_flow.ResolveRequest) -> order_flow.Order:
        """An operator settles an order in NEEDS_REVIEW; who and why are recorded."""
        return self.flow.resolve(request)

    @resolve.validator
    def _validate_resolve(self, request: order_flow.ResolveRequest) -> None:
        self.flow.validate_resolve(request)

    @workflow.query
    def status(self) -> order_flow.Order:
        return self.flow.status()

    @workflow.query
    def hint_state(self, hint: order_flow.RedirectHint) -> order_flow.HintState:
        """Whether a redirect hint would make the order inquire now: asked before signalling one."""
        return self.flow.hint_state(hint)

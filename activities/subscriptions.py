"""Subscription activities (provider-managed subscriptions): thin calls, no decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from activities.errors import kept_alive, translate_errors
from activities.payments import ProviderRegistry
from billing.callbacks import CallbackUrls
from billing.gateway import (
    CancelSubscription,
    ChangeOutcome,
    ChangeSubscription,
    CreateSubscription,
    InquireSubscriptionChange,
    ManagementLink,
    ManageSubscription,
    SubscriptionOutcome,
    SubscriptionRef,
)


class _Call(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str


class CreateSubscriptionCall(_Call):
    subscription_id: str
    request: CreateSubscription


class SubscriptionCall(_Call):
    subscription: SubscriptionRef


class CancelSubscriptionCall(_Call):
    request: CancelSubscription


class ManageSubscriptionCall(_Call):
    request: ManageSubscription


class ChangeSubscriptionCall(_Call):
    subscription_id: str
    request: ChangeSubscription


class ChangeInquiryCall(_Call):
    request: InquireSubscriptionChange


class SubscriptionActivities:
    def __init__(self, providers: ProviderRegistry, callbacks: CallbackUrls) -> None:
        self.providers = providers
        self.callbacks = callbacks

    @activity.defn(name="subscriptions.create")
    @translate_errors
    @kept_alive
    async def create(self, call: CreateSubscriptionCall) -> SubscriptionOutcome:
        request = call.request
        if request.notify_url is None:
            url = self.callbacks.subscription(call.provider, call.subscription_id)
            request = request.model_copy(update={"notify_url": url})
        return await self.providers.get(call.provider).create_subscription(request)

    @activity.defn(name="subscriptions.inquire")
    @translate_errors
    @kept_alive
    async def inquire(self, call: SubscriptionCall) -> SubscriptionOutcome:
        return await self.providers.get(call.provider).inquire_subscription(call.subscription)

    @activity.defn(name="subscriptions.cancel")
    @translate_errors
    @kept_alive
    async def cancel(self, call: CancelSubscriptionCall) -> SubscriptionOutcome:
        return await self.providers.get(call.provider).cancel_subscription(call.request)

    @activity.defn(name="subscriptions.manage")
    @translate_errors
    @kept_alive
    async def manage(self, call: ManageSubscriptionCall) -> ManagementLink:
        return await self.providers.get(call.provider).manage_subscription(call.request)

    @activity.defn(name="subscriptions.change")
    @translate_errors
    @kept_alive
    async def change(self, call: ChangeSubscriptionCall) -> ChangeOutcome:
        request = call.request
        if request.notify_url is None:
            url = self.callbacks.subscription(call.provider, call.subscription_id)
            request = request.model_copy(update={"notify_url": url})
        return await self.providers.get(call.provider).change_subscription(request)

    @activity.defn(name="subscriptions.inquire_change")
    @translate_errors
    @kept_alive
    async def inquire_change(self, call: ChangeInquiryCall) -> ChangeOutcome:
        return await self.providers.get(call.provider).inquire_subscription_change(call.request)

    def all(self) -> list[Callable[..., Any]]:
        return [self.create, self.inquire, self.cancel, self.manage, self.change, self.inquire_change]

"""Vendor adapters behind one `Provider` protocol; never imports the gateway or strawberry."""

from ._budget import CallBudget, call_budget
from .base import Capability, Provider
from .costs import CallCosts, call_costs
from .echo import cut, echo
from .errors import (
    CallBudgetExceededError,
    ConflictError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    UnsupportedOperationError,
)
from .models import (
    Campaign,
    Channel,
    Conversation,
    ConversationChanges,
    ConversationFilter,
    ConversationStatus,
    CustomField,
    Direction,
    Feedback,
    Message,
    NewConversation,
    NewMessage,
    Page,
    Participant,
    ParticipantInput,
    Priority,
    QueueInfo,
    Role,
    SortOrder,
    VendorEvent,
)
from .registry import build_provider, register_vendor, vendor_names

__all__ = [
    "CallBudget", "CallBudgetExceededError", "CallCosts", "Campaign", "Capability", "Channel", "ConflictError", "Conversation", "ConversationChanges",
    "ConversationFilter", "ConversationStatus", "CustomField", "Direction", "Feedback",
    "InvalidRequestError", "MalformedResponseError", "Message", "NewConversation", "NewMessage",
    "NotFoundError", "Page", "Participant", "ParticipantInput", "Priority", "Provider",
    "ProviderAuthError", "ProviderError", "ProviderTimeoutError", "ProviderUnavailableError",
    "QueueInfo", "RateLimitedError", "Role", "SortOrder", "UnsupportedOperationError", "VendorEvent",
    "build_provider", "call_budget", "call_costs", "cut", "echo", "register_vendor", "vendor_names",
]

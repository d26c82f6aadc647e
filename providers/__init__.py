"""Vendor adapters behind one `Provider` protocol; never imports the gateway or strawberry."""

from ._breaker import BreakerState, CircuitBreaker
from ._budget import CallBudget, call_budget
from ._deadline import deadline
from .base import Capability, Provider
from .costs import CallCosts, call_costs
from .echo import cut, echo
from .errors import (
    CallBudgetExceededError,
    CircuitOpenError,
    ConflictError,
    DeadlineExceededError,
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
from .resilience import ResiliencePolicy, Resilient

__all__ = [
    "BreakerState", "CircuitBreaker", "CircuitOpenError", "DeadlineExceededError", "ResiliencePolicy", "Resilient", "deadline",
    "CallBudget", "CallBudgetExceededError", "CallCosts", "Campaign", "Capability", "Channel", "ConflictError", "Conversation", "ConversationChanges",
    "ConversationFilter", "ConversationStatus", "CustomField", "Direction", "Feedback",
    "InvalidRequestError", "MalformedResponseError", "Message", "NewConversation", "NewMessage",
    "NotFoundError", "Page", "Participant", "ParticipantInput", "Priority", "Provider",
    "ProviderAuthError", "ProviderError", "ProviderTimeoutError", "ProviderUnavailableError",
    "QueueInfo", "RateLimitedError", "Role", "SortOrder", "UnsupportedOperationError", "VendorEvent",
    "build_provider", "call_budget", "call_costs", "cut", "echo", "register_vendor", "vendor_names",
]

"""Vendor adapters behind one `Provider` protocol; never imports the gateway or strawberry."""

from .base import Capability, Provider
from .echo import cut, echo
from .errors import (
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
    "Campaign", "Capability", "Channel", "ConflictError", "Conversation", "ConversationChanges",
    "ConversationFilter", "ConversationStatus", "CustomField", "Direction", "Feedback",
    "InvalidRequestError", "MalformedResponseError", "Message", "NewConversation", "NewMessage",
    "NotFoundError", "Page", "Participant", "ParticipantInput", "Priority", "Provider",
    "ProviderAuthError", "ProviderError", "ProviderTimeoutError", "ProviderUnavailableError",
    "QueueInfo", "RateLimitedError", "Role", "SortOrder", "UnsupportedOperationError", "VendorEvent",
    "build_provider", "cut", "echo", "register_vendor", "vendor_names",
]

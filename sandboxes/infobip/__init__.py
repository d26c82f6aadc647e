"""The Infobip Conversations API sandbox (see `app.py`)."""

from .app import create_app
from .demo import BUSINESS

# senders: the demo shop's own addresses, so a provider can write first (createConversation with messages)
CREDENTIALS = {"api_key": "sandbox-key", "senders": {"WHATSAPP": BUSINESS["WHATSAPP"], "SMS": BUSINESS["SMS"]}}
AUTH_HINT = "API under /ccaas/1/, header 'Authorization: App sandbox-key'"
DEFAULT_PORT = 8102

__all__ = ["AUTH_HINT", "CREDENTIALS", "DEFAULT_PORT", "create_app"]

"""The Infobip Conversations API sandbox (see `app.py`)."""

from .app import create_app

CREDENTIALS = {"api_key": "sandbox-key"}
AUTH_HINT = "API under /ccaas/1/, header 'Authorization: App sandbox-key'"
DEFAULT_PORT = 8102

__all__ = ["AUTH_HINT", "CREDENTIALS", "DEFAULT_PORT", "create_app"]

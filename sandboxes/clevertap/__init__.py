"""The CleverTap Conversations API sandbox (see `app.py`)."""

from .app import create_app

# agent_email: the demo dashboard user a provider acts as when it replies or claims.
CREDENTIALS = {"account_id": "SANDBOX-ACCOUNT", "passcode": "sandbox-passcode", "agent_email": "asha.rao@example.com"}
AUTH_HINT = "API under /1/, headers X-CleverTap-Account-Id: SANDBOX-ACCOUNT, X-CleverTap-Passcode: sandbox-passcode"
DEFAULT_PORT = 8103

__all__ = ["AUTH_HINT", "CREDENTIALS", "DEFAULT_PORT", "create_app"]

"""The Socialboards External Chat API sandbox (see `app.py`)."""

from .app import create_app

# agent_email: a demo team member, whom a provider writes an AGENT message as when it names no author.
CREDENTIALS = {"client_id": "sandbox-client", "refresh_token": "sandbox-refresh", "agent_email": "maria.lund@agents.example.com"}
AUTH_HINT = "token: POST /token with client_id=sandbox-client, refresh_token=sandbox-refresh"
DEFAULT_PORT = 8101

__all__ = ["AUTH_HINT", "CREDENTIALS", "DEFAULT_PORT", "create_app"]

"""User resolution by the User value rules of the vendor docs (objects/user-value).

Customers (status ``client``) and team members (status ``agent``) are separate populations, as contacts
and inbox users are in Socialboards: a message with ``isByTeam: true`` is resolved among team members
only, so an agent never turns into a customer or back. Matching is by precedence id > email >
customIdentifier; emails compare case-insensitively; a known user keeps its stored name and image.
"""

from __future__ import annotations

from collections.abc import Callable

from .input import UserValue
from .model import AGENT_STATUS, CLIENT_STATUS, User

BOT_USER_ID = "00000000-0000-4000-8000-00000000b07e"
BOT_NAME = "Socialboards Bot"


class Directory:
    """Every user the sandbox knows, indexed per population."""

    def __init__(self, new_id: Callable[[], str]) -> None:
        self._new_id = new_id
        # The docs give the bot no status; it sits on the team side, so "agent" plus isBot.
        self.bot = User(BOT_USER_ID, BOT_NAME, None, None, None, AGENT_STATUS, is_bot=True)
        self._by_id: dict[str, User] = {self.bot.id: self.bot}
        self._by_email: dict[tuple[str, str], User] = {}
        self._by_custom: dict[tuple[str, str], User] = {}

    def resolve(self, value: UserValue, *, team: bool = False) -> User:
        """The user ``value`` names, created as a new user with a fresh GUID when nothing matches."""
        if value.is_bot:
            return self.bot
        status = AGENT_STATUS if team else CLIENT_STATUS
        found, matched_by = self._match(value, status)
        if found is None:
            return self.add(value.name, value.email, value.custom_identifier, value.image, status)
        if matched_by == "email" and value.custom_identifier:
            self._attach_custom(found, value.custom_identifier)
        return found

    def add(self, name: str | None, email: str | None, custom: str | None, image: str | None, status: str) -> User:
        user = User(self._new_id(), name, email, custom, image, status)
        self._by_id[user.id] = user
        if email:
            self._by_email[(status, email.lower())] = user
        if custom:
            self._by_custom[(status, custom)] = user
        return user

    def agent_named(self, name: str) -> User:
        """The team member called ``name`` (used by the sandbox-only agent-reply endpoint)."""
        slug = ".".join(name.lower().split()) or "agent"
        existing = self._by_custom.get((AGENT_STATUS, f"agent:{slug}"))
        return existing or self.add(name, f"{slug}@agents.example.com", f"agent:{slug}", None, AGENT_STATUS)

    def _match(self, value: UserValue, status: str) -> tuple[User | None, str]:
        """The first match in precedence order and the identifier that matched."""
        by_id = self._by_id.get(value.id) if value.id else None
        if by_id is not None and by_id.status == status and not by_id.is_bot:
            return by_id, "id"
        by_email = self._by_email.get((status, value.email.lower())) if value.email else None
        if by_email is not None:
            return by_email, "email"
        by_custom = self._by_custom.get((status, value.custom_identifier)) if value.custom_identifier else None
        return by_custom, "customIdentifier"

    def _attach_custom(self, user: User, custom: str) -> None:
        # Docs: a customIdentifier supplied with an email match is attached only when none is set yet,
        # and only if no other user of the population already owns it.
        if user.custom_identifier is None and (user.status, custom) not in self._by_custom:
            user.custom_identifier = custom
            self._by_custom[(user.status, custom)] = user

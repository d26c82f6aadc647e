"""The account a sandbox serves: its dashboard users and its campaigns, defaults and validation.

``create_app`` takes users and campaigns either as the records of ``model`` or as plain
mappings (``{"email", "name", "role", "id"?}``, ``{"id", "name", "labels"?, "channel"?}``), so a
caller needs no import beyond ``create_app``. A bad entry fails at start with ``ValueError`` naming
the entry, as a bad setting would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .model import ROLES, Campaign, DashboardUser

UserSpec = DashboardUser | Mapping[str, Any]
CampaignSpec = Campaign | Mapping[str, Any]

DEFAULT_USERS = (
    DashboardUser("u_1001", "asha.rao@example.com", "Asha Rao", "Agent"),
    DashboardUser("u_1002", "ben.okafor@example.com", "Ben Okafor", "Agent"),
    DashboardUser("u_1003", "chen.wei@example.com", "Chen Wei", "Agent"),
    DashboardUser("u_1004", "dana.kim@example.com", "Dana Kim", "Admin"),
    DashboardUser("u_1005", "eli.novak@example.com", "Eli Novak", "Member"),
)
DEFAULT_CAMPAIGNS = (
    Campaign(1700000101, "Spring Sale", ("promo", "seasonal"), "whatsapp"),
    Campaign(1700000102, "Order Updates", ("transactional", "orders"), "whatsapp"),
    Campaign(1700000103, "Flight Reminders", ("transactional", "travel"), "sms"),
    Campaign(1700000104, "Win-back Offer", ("promo", "retention"), "email"),
    Campaign(1700000105, "App Onboarding", ("onboarding",), "in_app"),
)


def users_from(specs: Sequence[UserSpec] | None) -> tuple[DashboardUser, ...]:
    users = DEFAULT_USERS if specs is None else tuple(_user(spec, index) for index, spec in enumerate(specs))
    emails = [user.email.lower() for user in users]
    duplicates = sorted({email for email in emails if emails.count(email) > 1})
    if duplicates:
        raise ValueError(f"agents: email(s) {', '.join(duplicates)} appear more than once")
    return users


def campaigns_from(specs: Sequence[CampaignSpec] | None) -> tuple[Campaign, ...]:
    campaigns = DEFAULT_CAMPAIGNS if specs is None else tuple(_campaign(spec, i) for i, spec in enumerate(specs))
    ids = [campaign.id for campaign in campaigns]
    duplicates = sorted({str(cid) for cid in ids if ids.count(cid) > 1})
    if duplicates:
        raise ValueError(f"campaigns: id(s) {', '.join(duplicates)} appear more than once")
    return campaigns


def _user(spec: UserSpec, index: int) -> DashboardUser:
    where = f"agents[{index}]"
    if isinstance(spec, DashboardUser):
        user = spec
    elif isinstance(spec, Mapping):
        user = DashboardUser(
            id=str(spec.get("id") or f"u_{index + 1:04d}"),
            email=_text(spec, "email", where),
            name=_text(spec, "name", where),
            role=_text(spec, "role", where),
        )
    else:
        raise ValueError(f"{where} must be a DashboardUser or a mapping, got {type(spec).__name__}")
    if user.role not in ROLES:
        raise ValueError(f"{where}.role {user.role!r} is not one of {', '.join(ROLES)}")
    if "@" not in user.email:
        raise ValueError(f"{where}.email {user.email!r} is not an email address")
    return user


def _campaign(spec: CampaignSpec, index: int) -> Campaign:
    where = f"campaigns[{index}]"
    if isinstance(spec, Campaign):
        return spec
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a Campaign or a mapping, got {type(spec).__name__}")
    campaign_id = spec.get("id")
    if isinstance(campaign_id, bool) or not isinstance(campaign_id, int):
        raise ValueError(f"{where}.id must be an integer, got {campaign_id!r}")
    labels = spec.get("labels") or ()
    if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"{where}.labels must be a list of strings, got {labels!r}")
    channel = spec.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise ValueError(f"{where}.channel must be a string or None, got {channel!r}")
    return Campaign(campaign_id, _text(spec, "name", where), tuple(labels), channel.lower() if channel else None)


def _text(spec: Mapping[str, Any], key: str, where: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return value

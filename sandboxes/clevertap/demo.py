"""Deterministic demo conversations, so a fresh sandbox looks like a working Conversations inbox.

The same ``seed`` and clock give the same users, texts, campaigns, owners and ids; times are relative
to the sandbox clock at start-up. The mix follows ``PLAN``: active conversations (last user reply
within 24 hours), inactive ones (up to 15 days) and hidden ones (older than 15 days: left out of
listings, still readable by id); most are claimed by an agent, who has answered them. Active ones are
claimed by the first agent (the demo agent: `CREDENTIALS["agent_email"]`) or by nobody, so a demo
client acting as that agent can reply to every live conversation. A conversation
whose last message is the user's is New, as every user reply makes it; answered ones are New,
Pending or Closed. Seeding sends no events.
"""

from __future__ import annotations

import unicodedata

from .model import INBOUND, OUTBOUND, Campaign, Conversation, DashboardUser
from .state import Sandbox

HOUR = 3600
DAY = 24 * HOUR
# (how old the last user reply is, claimed by an agent)
PLAN = (
    ("active", False),
    ("active", True),
    ("inactive", True),
    ("inactive", False),
    ("hidden", False),
    ("active", True),
    ("inactive", True),
    ("hidden", True),
)
AGE_SECONDS = {"active": (5 * 60, 23 * HOUR), "inactive": (25 * HOUR, 14 * DAY), "hidden": (16 * DAY, 30 * DAY)}
ANSWERED_STATUSES = ("Pending", "Closed", "Closed", "New")
USERS = (
    "Emma Hansen",
    "Arjun Mehta",
    "Sofia Rossi",
    "Mateo García",
    "Aiko Tanaka",
    "Noah Müller",
    "Fatima Al-Sayed",
    "Liam O'Brien",
    "Chloé Dubois",
    "Priya Sharma",
    "Kwame Mensah",
    "Ana Costa",
    "Siti Rahma",
    "Budi Santoso",
    "Nguyen Van An",
    "Layla Haddad",
    "Ravi Patel",
    "Hannah Schmidt",
    "Yuki Sato",
    "Omar Farouk",
)
INBOUND_TEXTS = (
    "Hi! Is the discount still valid this weekend?",
    "My order hasn't arrived yet, can you check?",
    "Can I move my flight to Friday?",
    "How do I change the delivery address?",
    "I was charged twice for the same order.",
    "Do you ship to Singapore?",
    "Where can I find my invoice?",
    "The app keeps logging me out.",
    "Can I still return the shoes after 30 days?",
    "Any update on this?",
    "Yes please, go ahead.",
    "Thanks, that worked!",
)
OUTBOUND_TEXTS = (
    "Hi! Thanks for writing in, let me check that for you.",
    "Yes, the offer runs until Sunday midnight.",
    "I've updated the address on your order.",
    "The duplicate charge is refunded; it shows on your card in 3-5 days.",
    "The parcel is out for delivery today.",
    "You can download the invoice under Account > Orders.",
    "I've moved your booking; the new ticket is in your inbox.",
    "Is there anything else I can help with?",
)


def seed_demo(sandbox: Sandbox, count: int) -> None:
    if count <= 0:
        return
    if not sandbox.campaigns:
        raise ValueError("demo_conversations needs at least one campaign")
    plan = [PLAN[index % len(PLAN)] for index in range(count)]
    sandbox.rng.shuffle(plan)
    agents = [user for user in sandbox.users.values() if user.can_chat]
    for age, claimed in plan:
        owner = sandbox.rng.choice(agents) if claimed and agents else None
        if owner is not None and age == "active":
            owner = agents[0]  # the demo agent: a demo client replying as it can answer every live conversation
        _add_conversation(sandbox, age, owner)


def _add_conversation(sandbox: Sandbox, age: str, owner: DashboardUser | None) -> None:
    rng, now = sandbox.rng, sandbox.now_ts()
    last_reply = now - rng.randint(*AGE_SECONDS[age])
    exchanges = rng.randint(1, 3)
    gaps = [rng.randint(2 * HOUR, 30 * HOUR) for _ in range(exchanges - 1)]
    first = last_reply - sum(gaps)
    name = rng.choice(USERS)
    campaign: Campaign = rng.choice(sorted(sandbox.campaigns.values(), key=lambda item: item.id))
    conversation = sandbox.open_conversation(_identity(sandbox, name), name, campaign, first)
    moment = first
    for index in range(exchanges):
        sandbox.append(conversation, INBOUND, rng.choice(INBOUND_TEXTS), moment)
        answer_at = moment + rng.randint(60, 40 * 60)
        last_exchange = index == exchanges - 1
        if owner is not None and answer_at < now - 60 and (not last_exchange or rng.random() < 0.7):
            sandbox.append(conversation, OUTBOUND, rng.choice(OUTBOUND_TEXTS), answer_at, owner)
        if not last_exchange:
            moment += gaps[index]
    _settle(sandbox, conversation, owner, last_reply)


def _settle(sandbox: Sandbox, conversation: Conversation, owner: DashboardUser | None, last_reply: int) -> None:
    rng, now = sandbox.rng, sandbox.now_ts()
    last = conversation.messages[-1]
    conversation.agent = owner
    conversation.last_user_reply_ts = last_reply
    if last.direction == OUTBOUND:
        conversation.ticket_status = rng.choice(ANSWERED_STATUSES)
    elif owner is None and rng.random() < 0.15:
        conversation.ticket_status = "Closed"  # closed without an answer (spam, "thanks", ...)
    changed_later = conversation.ticket_status != "New"
    conversation.updated_ts = min(last.ts + (rng.randint(30, 600) if changed_later else 0), now)


def _identity(sandbox: Sandbox, name: str) -> str:
    """A unique email identity for ``name``: one conversation per identity."""
    slug = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    local = ".".join("".join(ch for ch in part if ch.isalnum()) for part in slug.split())
    while True:
        identity = f"{local}.{sandbox.rng.randint(100, 999)}@example.com"
        if identity not in sandbox.by_identity:
            return identity

"""Deterministic demo conversations, so a fresh sandbox looks like a working inbox.

The same ``seed`` gives the same customers, titles, texts, states and ids; timestamps are relative to
the sandbox clock at start-up (the last two weeks). States are spread evenly over queued, handled
(position -1), closed and bot-assigned; queued chats contain only customer messages, because an agent
reply would have taken them out of the queue. Seeding fires no webhooks.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from .input import UserValue
from .model import Conversation, Feedback, FieldValue, User
from .state import Sandbox

CUSTOMERS = (
    "Emma Hansen",
    "Lars Nilsen",
    "Sofia Rossi",
    "Mateo García",
    "Aiko Tanaka",
    "Noah Müller",
    "Fatima Al-Sayed",
    "Liam O'Brien",
    "Chloé Dubois",
    "Priya Sharma",
    "Olivia Johansson",
    "Kwame Mensah",
    "Ana Costa",
    "Mikael Virtanen",
    "Zoe Papadopoulos",
    "Isabella Nowak",
    "Ravi Patel",
    "Hannah Schmidt",
    "Yuki Sato",
    "John Dow",
)
AGENTS = ("Maria Lund", "Ola Nordmann", "Sam Carter")
CITIES = ("Oslo", "Bergen", "Stockholm", "Copenhagen", "Helsinki", "Berlin")
STATES = ("queued", "handled", "closed", "bot")


@dataclass(frozen=True, slots=True)
class Topic:
    title: str
    url: str
    customer: tuple[str, ...]
    agent: tuple[str, ...]


TOPICS = (
    Topic(
        "Order #{n} has not arrived",
        "https://shop.example.com/orders/{n}",
        (
            "Hi, my order #{n} was due on Monday and still hasn't arrived.",
            "The tracking page hasn't changed in 4 days.",
            "Can you check with the carrier?",
            "OK, thanks. Will I get a notification?",
        ),
        (
            "Sorry about the delay! Let me look up order #{n}.",
            "The parcel is at the local depot and goes out tomorrow.",
            "Yes, you'll get an SMS with the delivery window.",
        ),
    ),
    Topic(
        "Refund for a damaged item",
        "https://shop.example.com/returns",
        (
            "The lamp I received is cracked.",
            "I've attached photos in the return form.",
            "How long does the refund take?",
        ),
        (
            "I'm sorry to hear that. I've registered the return for you.",
            "Refunds reach your card within 5 working days.",
            "No need to send the lamp back.",
        ),
    ),
    Topic(
        "Can't log in to my account",
        "https://app.example.com/login",
        (
            "I keep getting 'invalid password' even after a reset.",
            "I'm using Safari on an iPhone.",
            "That worked, thank you!",
        ),
        (
            "Could you try clearing the site data and resetting once more?",
            "I've unlocked your account after too many attempts.",
        ),
    ),
    Topic(
        "Question about invoice INV-{n}",
        "https://billing.example.com/invoices",
        ("Why was I charged twice on invoice INV-{n}?", "Both charges are on my statement from the 3rd."),
        (
            "Thanks for flagging it. The second charge was a pre-authorisation.",
            "It will drop off your statement within 3 days.",
        ),
    ),
    Topic(
        "Change delivery address",
        "https://shop.example.com/checkout/delivery",
        ("Can I still change the delivery address for my order?", "The new address is Storgata 12, 0155 Oslo."),
        ("Yes, it hasn't shipped yet. What's the new address?", "Done, the address is updated."),
    ),
    Topic(
        "Subscription renewal price",
        "https://app.example.com/settings/subscription",
        ("My renewal price went up. Is there a discount for annual plans?", "Can I switch before the renewal date?"),
        ("Annual plans are 20% cheaper than monthly.", "Yes, you can switch any time under Settings → Subscription."),
    ),
    Topic(
        "Chat API Client Problems",
        "https://thejohndow.com",
        ("Hi, I have some questions about the Chat API", "Our webhook endpoint doesn't receive any events."),
        (
            "Happy to help! Is the webhook enabled under Settings → Webhooks?",
            "Could you send the endpoint URL you configured?",
        ),
    ),
)
BOT_LINES = (
    "Hi! I'm the Socialboards assistant. What can I help you with?",
    "I found these articles that might help.",
    "Would you like to talk to a human agent?",
)
CUSTOMER_FILLERS = ("Any update on this?", "Thanks.", "One more thing: do you ship to Norway?", "Great, that helps.")
AGENT_FILLERS = (
    "Let me check that for you.",
    "Thanks for your patience!",
    "I've added a note to your case.",
    "Is there anything else I can help with?",
)
FEEDBACK = (
    (True, "Quick and friendly, thanks!"),
    (True, "Solved my problem."),
    (False, "Took too long to get an answer."),
)


def seed_demo(sandbox: Sandbox, count: int) -> None:
    rng = sandbox.rng
    now = sandbox.now()
    starts = sorted(now - timedelta(minutes=rng.uniform(120, 14 * 24 * 60)) for _ in range(count))
    states = [STATES[index % len(STATES)] for index in range(count)]
    rng.shuffle(states)
    for start, state in zip(starts, states, strict=True):
        _add_conversation(sandbox, start, state)


def _add_conversation(sandbox: Sandbox, start: datetime, state: str) -> None:
    rng = sandbox.rng
    topic, number = rng.choice(TOPICS), rng.randint(10000, 99999)
    conversation = Conversation(
        id=sandbox.new_conversation_id(),
        author=_customer(sandbox, rng.choice(CUSTOMERS)),
        title=topic.title.format(n=number),
        initial_page_url=topic.url.format(n=number),
        latest_page_url=topic.url.format(n=number),
        category_id=rng.choice((1505, 1506, None)),
        sentiment="question",
        fields=_fields(sandbox),
        creation_time=start,
        last_modified_time=start,
        is_assigned_to_bot=state == "bot",
        is_handled=state in ("handled", "closed"),
        is_closed=state == "closed",
    )
    _add_messages(sandbox, conversation, topic, number, state)
    if conversation.is_handled:
        conversation.assignee_id = sandbox.directory.agent_named(rng.choice(AGENTS)).id
    if state == "closed" and rng.random() < 0.6:
        conversation.feedback = Feedback(*rng.choice(FEEDBACK))
    sandbox.adopt(conversation, queued=state == "queued")


def _add_messages(sandbox: Sandbox, conversation: Conversation, topic: Topic, number: int, state: str) -> None:
    rng = sandbox.rng
    agent = sandbox.directory.bot if state == "bot" else sandbox.directory.agent_named(rng.choice(AGENTS))
    scripts = {
        False: topic.customer + CUSTOMER_FILLERS,
        True: (BOT_LINES if state == "bot" else topic.agent) + AGENT_FILLERS,
    }
    said = {False: 0, True: 0}
    moment, latest = conversation.creation_time, sandbox.now() - timedelta(minutes=1)
    for index in range(rng.randint(2, 15)):
        team_turn = state != "queued" and index % 2 == 1 and rng.random() < 0.85
        script = scripts[team_turn]
        text = script[said[team_turn] % len(script)].format(n=number)
        said[team_turn] += 1
        author = agent if team_turn else conversation.author
        sandbox.append(conversation, author, text, moment, modified=moment)
        conversation.last_modified_time = moment
        moment = min(moment + timedelta(minutes=rng.uniform(0.5, 25)), latest)


def _customer(sandbox: Sandbox, name: str) -> User:
    """The same customer (by email) when a name comes up twice, as a returning visitor would be."""
    slug = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    email = ".".join("".join(ch for ch in part if ch.isalnum()) for part in slug.split()) + "@example.com"
    custom = f"cus-{sandbox.rng.randint(10000, 99999)}"
    return sandbox.directory.resolve(UserValue(email=email, custom_identifier=custom, name=name))


def _fields(sandbox: Sandbox) -> list[FieldValue]:
    rng = sandbox.rng
    if rng.random() >= 0.4:
        return []
    fields = [FieldValue(42623, rng.choice(CITIES))]
    if rng.random() < 0.5:
        fields.append(FieldValue(18464, rng.choice(("Option 1", "Option 2", "Option 3"))))
    return fields

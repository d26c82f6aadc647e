"""The account every sandbox starts with, and deterministic demo conversations on request.

Always present: five agents (one of them a supervisor, one disabled) on four queues; the first
queue, "General support", is where routing sends conversations while no rule is set. Their ids
follow from ``seed``.

``demo_conversations=n`` adds n conversations of an online shop with its customers over WhatsApp,
SMS, Viber, Messenger, Telegram and live chat, plus the account tags they carry. The same seed gives
the same data; times are spread over the two weeks before the sandbox clock's start. Statuses and
priorities are drawn from fixed mixes, so any n >= 6 shows every status and every priority.
Conversations waiting in a queue have only customer messages; WAITING and SOLVED ones end with the
agent's message. A customer sometimes comes back on the same channel after an earlier closed
conversation. Seeding fires no webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .input import AgentDraft, MessageDraft
from .model import CLOSED, INBOUND, OUTBOUND, TEXT, Conversation
from .state import Sandbox

AGENTS = (
    AgentDraft("Maria Lund", "ACTIVE", "SUPERVISOR", True),
    AgentDraft("Ola Nordmann", "ACTIVE", "AGENT", True),
    AgentDraft("Sam Carter", "BUSY", "AGENT", True),
    AgentDraft("Aiko Tanaka", "AWAY", "AGENT", True),
    AgentDraft("Lars Nilsen", "INVISIBLE", "AGENT", False),
)
QUEUES = {  # name -> members (indexes into AGENTS)
    "General support": (0, 1, 2),
    "Orders & delivery": (1, 3),
    "Billing": (0, 2),
    "VIP": (0,),
}
STATUS_MIX = ("OPEN", "OPEN", "WAITING", "SOLVED", "CLOSED", "CLOSED")
PRIORITY_MIX = ("NORMAL", "NORMAL", "HIGH", "NORMAL", "LOW", "URGENT", "NORMAL", "HIGH")
BUSINESS = {  # channel -> the shop's own address on it
    "WHATSAPP": "447700900000",
    "SMS": "447700900001",
    "VIBER": "ShopDemo",
    "FACEBOOK_MESSENGER": "104857623958712",
    "TELEGRAM": "shopdemo_bot",
    "LIVE_CHAT": "7d1c3a52-2f0e-4a8b-9d3e-5b6f0c1e2a47",
}


@dataclass(frozen=True, slots=True)
class Topic:
    topic: str
    summary: str
    queue: str
    tags: tuple[str, ...]
    customer: tuple[str, ...]
    agent: tuple[str, ...]


TOPICS = (
    Topic(
        "Order #{n} not delivered",
        "Parcel for order #{n} was held at the depot; redelivery booked.",
        "Orders & delivery",
        ("delivery",),
        ("Hi, my order #{n} should have arrived on Monday.", "Tracking hasn't changed for 4 days.",
         "OK, will I get a notification?", "Thanks!"),
        ("Sorry about the delay! Let me check order #{n}.", "The parcel is at the local depot and goes out tomorrow.",
         "Yes, you'll get a message with the delivery window.", "Could you confirm someone is home after 14:00?"),
    ),
    Topic(
        "Refund for a damaged lamp",
        "Lamp arrived cracked; refund issued without return.",
        "General support",
        ("returns", "complaint"),
        ("The lamp I received is cracked.", "I sent photos with the return form.", "How long does the refund take?"),
        ("I'm sorry to hear that. I've registered the return for you.",
         "Refunds reach your card within 5 working days.", "No need to send the lamp back."),
    ),
    Topic(
        "Charged twice for invoice INV-{n}",
        "Second charge on INV-{n} was a card pre-authorisation; released.",
        "Billing",
        ("billing",),
        ("Why was I charged twice for invoice INV-{n}?", "Both charges are on my statement from the 3rd."),
        ("Thanks for flagging it. The second charge is a pre-authorisation.",
         "It will disappear from your statement within 3 days.", "Can you send a screenshot of the statement?"),
    ),
    Topic(
        "Change delivery address",
        "Delivery address updated before dispatch.",
        "Orders & delivery",
        ("delivery",),
        ("Can I still change the delivery address for my order?", "The new address is Storgata 12, 0155 Oslo."),
        ("Yes, it hasn't shipped yet. What's the new address?", "Done, the address is updated."),
    ),
    Topic(
        "Loyalty points missing",
        "Points for two purchases added manually.",
        "VIP",
        ("loyalty", "vip"),
        ("My last two purchases didn't give me any points.", "I'm a gold member, card ending 4821."),
        ("Let me look at your account.", "I've added the 340 missing points.", "Anything else I can do for you?"),
    ),
    Topic(
        "Payment declined at checkout",
        "3-D Secure step failed in the in-app browser; paid on desktop.",
        "Billing",
        ("billing",),
        ("My card keeps getting declined at checkout.", "It works everywhere else.", "I'm using the app on Android."),
        ("Does your bank show a 3-D Secure prompt?", "Please try once more from a desktop browser.",
         "The payment went through now."),
    ),
)
CUSTOMER_FILLERS = ("Any update on this?", "Thanks.", "Great, that helps.")
AGENT_FILLERS = ("Let me check that for you.", "Thanks for your patience!", "Is there anything else I can help with?")


def seed_account(sandbox: Sandbox) -> None:
    epoch = sandbox.now() - timedelta(days=90)
    agents = [
        sandbox.account.add_agent(draft, epoch + timedelta(hours=index)) for index, draft in enumerate(AGENTS)
    ]
    for index, (name, members) in enumerate(QUEUES.items()):
        queue = sandbox.account.add_queue(name, epoch + timedelta(days=1, hours=index))
        queue.agent_ids.extend(agents[member].id for member in members)


def seed_demo(sandbox: Sandbox, count: int) -> None:
    if count <= 0:
        return
    rng, now = sandbox.rng, sandbox.now()
    for name in sorted({tag for topic in TOPICS for tag in topic.tags}):
        sandbox.account.add_tag(name, now - timedelta(days=30))
    # At least six hours back: room for a whole thread (at most 9 gaps of 30 min) before "now".
    starts = sorted(now - timedelta(minutes=rng.uniform(6 * 60, 14 * 24 * 60)) for _ in range(count))
    statuses = [STATUS_MIX[index % len(STATUS_MIX)] for index in range(count)]
    priorities = [PRIORITY_MIX[index % len(PRIORITY_MIX)] for index in range(count)]
    rng.shuffle(statuses)
    rng.shuffle(priorities)
    customers: list[tuple[str, str]] = []
    for start, status, priority in zip(starts, statuses, priorities, strict=True):
        _add_conversation(sandbox, start, status, priority, _customer(sandbox, customers))


def _customer(sandbox: Sandbox, known: list[tuple[str, str]]) -> tuple[str, str]:
    """(channel, address): a returning customer one time in five, else a new one."""
    rng = sandbox.rng
    if known and rng.random() < 0.2:
        return rng.choice(known)
    channel = rng.choice(tuple(BUSINESS))
    address = {
        "WHATSAPP": lambda: f"447700900{rng.randint(100, 999)}",
        "SMS": lambda: f"447700900{rng.randint(100, 999)}",
        "VIBER": lambda: f"447700900{rng.randint(100, 999)}",
        "FACEBOOK_MESSENGER": lambda: str(rng.randint(10**15, 10**16 - 1)),
        "TELEGRAM": lambda: str(rng.randint(10**9, 10**10 - 1)),
        "LIVE_CHAT": sandbox.new_id,
    }[channel]()  # phone numbers from the UK range Ofcom keeps for fiction
    known.append((channel, address))
    return channel, address


def _add_conversation(sandbox: Sandbox, start: datetime, status: str, priority: str, who: tuple[str, str]) -> None:
    rng, account = sandbox.rng, sandbox.account
    topic, number = rng.choice(TOPICS), rng.randint(10000, 99999)
    queue = next(item for item in account.queues.values() if item.name == topic.queue)
    queued = status == "OPEN" and rng.random() < 0.5
    conversation = Conversation(
        id=sandbox.new_id(),
        topic=topic.topic.format(n=number),
        summary=topic.summary.format(n=number) if status in ("SOLVED", CLOSED) else None,
        status=status,
        priority=priority,
        queue_id=queue.id,
        agent_id=None if queued else rng.choice([a for a in queue.agent_ids if account.agents[a].enabled]),
        channel=who[0],
        created_at=start,
        updated_at=start,
        tags=[*topic.tags, *(["vip"] if "vip" not in topic.tags and rng.random() < 0.15 else [])],
    )
    sandbox.conversations[conversation.id] = conversation
    _add_messages(sandbox, conversation, topic, number, queued, who[1])
    if status in ("SOLVED", CLOSED):  # the status change came a little after the last message
        conversation.updated_at += timedelta(minutes=rng.uniform(1, 45))
    conversation.updated_at = min(conversation.updated_at, sandbox.now() - timedelta(seconds=30))


def _add_messages(
    sandbox: Sandbox, conversation: Conversation, topic: Topic, number: int, queued: bool, customer: str
) -> None:
    rng, channel = sandbox.rng, conversation.channel
    count = rng.randint(1, 3) if queued else rng.randint(2, 9)
    directions = [INBOUND] * count if queued else [OUTBOUND if index % 2 else INBOUND for index in range(count)]
    if conversation.status in ("WAITING", "SOLVED") and directions[-1] == INBOUND:
        directions.append(OUTBOUND)  # waiting on the customer, or solved: the agent spoke last
    said = {INBOUND: 0, OUTBOUND: 0}
    lines = {INBOUND: topic.customer + CUSTOMER_FILLERS, OUTBOUND: topic.agent + AGENT_FILLERS}
    moment, latest = conversation.created_at, sandbox.now() - timedelta(minutes=1)
    for direction in directions:
        text = lines[direction][said[direction] % len(lines[direction])].format(n=number)
        said[direction] += 1
        ends = (customer, BUSINESS[channel]) if direction == INBOUND else (BUSINESS[channel], customer)
        sandbox.add_message(conversation, MessageDraft(*ends, channel, TEXT, {"text": text}), direction, moment)
        conversation.updated_at = moment
        moment = min(moment + timedelta(minutes=rng.uniform(0.5, 30)), latest)

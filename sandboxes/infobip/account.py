"""Account-level entities of the sandbox: agents, queues, tags and the routing set-up.

Conversations refer to these by id (agents, queues) or by name (tags); an unknown reference is a
404 in the vendor's ``Invalid <field> '<value>' given!`` wording. Routing is deliberately simple:
the first enabled rule wins (its expression is stored and echoed, never evaluated), and with no
enabled rule a conversation goes to the account's default queue keeping its priority.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .input import AgentDraft
from .model import Agent, Queue, RoutingRule, Tag, invalid, unknown


@dataclass(frozen=True, slots=True)
class RoutingTarget:
    """Where routing puts a conversation: a queue and the priority it gets there."""

    queue_id: str
    priority: str


class Account:
    """Every agent, queue, tag and routing rule of the one account a sandbox emulates."""

    def __init__(self, new_id: Callable[[], str], now: Callable[[], datetime]) -> None:
        self._new_id = new_id
        self._now = now
        self.agents: dict[str, Agent] = {}
        self.queues: dict[str, Queue] = {}
        self.tags: dict[str, Tag] = {}
        self.rules: list[RoutingRule] = []
        self.default_queue_id: str | None = None

    # -- lookups -----------------------------------------------------------------------------------

    def agent(self, agent_id: str) -> Agent:
        found = self.agents.get(agent_id)
        if found is None:
            raise unknown("agentId", agent_id)
        return found

    def queue(self, queue_id: str) -> Queue:
        found = self.queues.get(queue_id)
        if found is None:
            raise unknown("queueId", queue_id)
        return found

    def tag(self, name: str) -> Tag:
        found = self.tags.get(name)
        if found is None:
            raise unknown("tagName", name)
        return found

    # -- writes ------------------------------------------------------------------------------------

    def add_agent(self, draft: AgentDraft, created: datetime | None = None) -> Agent:
        moment = created or self._now()
        agent = Agent(self._new_id(), draft.display_name, draft.status, draft.role, draft.enabled, moment, moment)
        self.agents[agent.id] = agent
        return agent

    def add_queue(self, name: str, created: datetime | None = None) -> Queue:
        """A new queue; the first queue of the account becomes the default routing target."""
        moment = created or self._now()
        queue = Queue(self._new_id(), name, moment, moment)
        self.queues[queue.id] = queue
        self.default_queue_id = self.default_queue_id or queue.id
        return queue

    def add_member(self, queue_id: str, agent_id: str) -> None:
        """Puts the agent on the queue; already being a member is no error."""
        queue, agent = self.queue(queue_id), self.agent(agent_id)
        if agent.id not in queue.agent_ids:
            queue.agent_ids.append(agent.id)
            queue.updated_at = self._now()

    def add_tag(self, name: str, created: datetime | None = None) -> Tag:
        if name in self.tags:
            raise invalid(f"Tag '{name}' already exists")
        moment = created or self._now()
        tag = Tag(name, moment, moment)
        self.tags[name] = tag
        return tag

    def remove_tag(self, name: str) -> None:
        del self.tags[self.tag(name).name]

    def set_rules(self, rules: list[RoutingRule]) -> None:
        """Replaces the whole routing set-up; every rule's queue must exist, else nothing changes."""
        for rule in rules:
            self.queue(rule.queue_id)
        self.rules = list(rules)

    def route(self, priority: str) -> RoutingTarget | None:
        """Where routing sends a conversation of ``priority`` now; None if the account has no queue."""
        rule = next((item for item in self.rules if item.enabled), None)
        if rule is not None:
            return RoutingTarget(rule.queue_id, rule.priority)
        return None if self.default_queue_id is None else RoutingTarget(self.default_queue_id, priority)

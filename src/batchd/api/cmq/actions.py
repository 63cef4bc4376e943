"""Every CMQ action by name (cmq-api.md §2), gathered from the modules that serve them.

Each action's parameters and how its answer is spelled live with its handler: queue actions in
`actions_queue`, message actions in `actions_message`, topic and subscription actions in
`actions_topic`, the batchd extensions in `actions_extension`; what they share (Reply,
registration, paging) in `actions_common`.
"""

from __future__ import annotations

from batchd.api.cmq import actions_extension, actions_message, actions_queue, actions_topic
from batchd.api.cmq.actions_common import Action

ACTIONS: dict[str, Action] = {
    **actions_queue.ACTIONS,
    **actions_message.ACTIONS,
    **actions_topic.ACTIONS,
    **actions_extension.ACTIONS,
}

# The wire spelling of each queue attribute, for errors that name the domain's.
WIRE_NAMES = {domain: wire for wire, domain in actions_queue.QUEUE_ATTRIBUTES.items()}

"""`batchd events`: the stored event history of a job or environment, its replay to a topic, and
a live tail of a queue that a topic of events feeds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from batchd.cli import batch_connection, cmq_connection, receiver
from batchd.cli.batch_client import BatchClient
from batchd.cli.client import CmqClient
from batchd.cli.option import DataDirOpt, EndpointOpt, OutputOpt, QueueArg, RegionOpt
from batchd.cli.output import Format, emit, emit_line, err, out
from batchd.domain import notifications

PAGE = 100  # DescribeEvents' largest Limit
MAX_RECEIVE = 16  # BatchReceiveMessage's largest numOfMsg
COLUMNS = ["Time", "Event", "Resource", "Seq", "State", "Undeliverable"]
_OWNER_ID = re.compile(r"(job|env)-[a-z0-9]{8}")

OwnerArg = Annotated[
    str,
    typer.Argument(
        help="Job id (job-…), or compute environment id (env-…) or name", show_default=False
    ),
]


class _EventsGroup(TyperGroup):
    """`batchd events ID …` runs `show ID …`; `batchd events --follow QUEUE …` runs
    `follow QUEUE …`; subcommand names and --help are left as they are."""

    # ctx: the Context of typer's own vendored click, which typer does not export
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _route(args, set(self.commands)))


def _route(args: list[str], names: set[str]) -> list[str]:
    if not args or args[0] in names or args[0] == "--help":
        return args
    for position, arg in enumerate(args):
        if arg in ("--follow", "-f"):
            return ["follow", *args[:position], *args[position + 1 :]]
        if arg.startswith("--follow="):
            queue = arg.removeprefix("--follow=")
            return ["follow", *args[:position], queue, *args[position + 1 :]]
    return ["show", *args]


events_app = typer.Typer(
    cls=_EventsGroup,
    help="Lifecycle events: the history of a job or environment, replay, live tail.\n\n"
    "`batchd events ID` lists the stored events of a job or environment (`show`), also long "
    "after it was deleted; `batchd events --follow QUEUE` tails a queue (`follow`).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events", rich_help_panel="Batch jobs")


# --- plumbing --------------------------------------------------------------------------------


def _owner_id(client: BatchClient, owner: str) -> str:
    """A job or environment id as given; anything else is the name of an existing environment."""
    if _OWNER_ID.fullmatch(owner):
        return owner
    return batch_connection.find_env_id(client, owner)


def _group(event_name: str) -> str:
    try:
        return notifications.group(event_name)
    except KeyError:  # a newer server's event: shown, without the details known here
        return ""


def state(event_name: str) -> str:
    """The state an event reports: `TASK_INSTANCE_FAILED` → `FAILED`."""
    if not _group(event_name):
        return ""
    return notifications.state_of(event_name).upper()


def resource(event_name: str, batch: Mapping[str, Any]) -> str:
    """What an event is about: `job-…`, `job-…/task`, `job-…/task/3`, `env-…` or `node-…`."""
    kind = _group(event_name)
    task = f"{batch.get('JobId', '')}/{batch.get('TaskName', '')}"
    if kind == "instance":
        return f"{task}/{batch.get('TaskInstanceIndex', '')}"
    if kind == "task":
        return task
    key = {"job": "JobId", "env": "EnvId", "node": "ComputeNodeId"}.get(kind, "")
    return str(batch.get(key, "")) if key else ""


def _history(client: BatchClient, owner_id: str, limit: int | None) -> tuple[list[Any], int]:
    """The EventSet of DescribeEvents, page by page, up to `limit`; and the TotalCount."""
    found: list[Any] = []
    while True:
        wanted = PAGE if limit is None else min(PAGE, limit - len(found))
        page = client.call(
            "DescribeEvents", {"OwnerId": owner_id, "Offset": len(found), "Limit": wanted}
        )
        found.extend(page["EventSet"])
        total = int(page["TotalCount"])
        if not page["EventSet"] or len(found) >= (total if limit is None else min(limit, total)):
            return found, total


# --- show ------------------------------------------------------------------------------------


@events_app.command("show")
def show(
    owner: OwnerArg,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Show at most this many, oldest first. Default: all")
    ] = None,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List the stored events of a job (its tasks and instances) or of an environment (its
    nodes), oldest first; also after the job or environment was deleted.

    `batchd events ID` is the same. With -o json: the envelopes of events.md §3.1, as a queue
    consumer decodes them (without the EventVars of any one topic).
    """
    with batch_connection.connect(endpoint, data_dir, region) as client:
        owner_id = _owner_id(client, owner)
        entries, total = _history(client, owner_id, limit)
    if output is Format.JSON:
        emit([{"Events": [entry["Event"]]} for entry in entries], output)
        return
    rows = [
        {
            "Time": entry["EventTime"],
            "Event": entry["EventName"],
            "Resource": resource(entry["EventName"], entry["Event"].get("Batch", {}))
            or entry["ResourceId"],
            "Seq": entry["Sequence"],
            "State": state(entry["EventName"]),
            "Undeliverable": entry["Undeliverable"] or "",
        }
        for entry in entries
    ]
    if not rows:
        err.print(f"{owner_id} has no events yet", markup=False, highlight=False)
        return
    emit(rows, output, COLUMNS, title=f"events of {owner_id}")
    undeliverable = sum(1 for entry in entries if entry["Undeliverable"])
    if undeliverable:
        err.print(
            f"{undeliverable} event(s) could not be delivered to their topic; once the topic "
            f"takes messages again, `batchd events replay {owner_id} --topic TOPIC` sends them",
            markup=False,
            highlight=False,
        )
    if total > len(entries):
        err.print(f"showing {len(entries)} of {total} events (see --limit)")


# --- replay ----------------------------------------------------------------------------------


@events_app.command("replay")
def replay(
    owner: OwnerArg,
    topic: Annotated[
        str, typer.Option("--topic", "-t", help="Topic to publish to", show_default=False)
    ],
    event_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--event-id",
            "-e",
            help="Only this event (EventId, see `batchd events ID`); repeatable. Default: all",
        ),
    ] = None,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Publish stored events of a job or environment again to a topic, in their order.

    Consumers see the same EventId and Sequence as the first time, so they can drop repeats.
    """
    with batch_connection.connect(endpoint, data_dir, region) as client:
        owner_id = _owner_id(client, owner)
        params: dict[str, Any] = {"OwnerId": owner_id, "TopicName": topic}
        if event_ids:
            params["EventIds"] = event_ids
        count = int(client.call("ReplayEvents", params)["ReplayedCount"])
    if output is Format.JSON:
        emit({"ReplayedCount": count}, output)
        return
    err.print(
        f"replayed {count} event(s) of {owner_id} to topic {topic}", markup=False, highlight=False
    )


# --- follow ----------------------------------------------------------------------------------


def _events_in(body: str) -> list[dict[str, Any]] | None:
    """The events of a message body (Base64 or raw JSON envelope); None if it holds none."""
    try:
        envelope = notifications.decode_body(body)
    except ValueError:
        return None
    events = envelope.get("Events") if isinstance(envelope, dict) else None
    if not isinstance(events, list) or not all(
        isinstance(e, dict) and "EventName" in e for e in events
    ):
        return None
    return events


def _show_message(message: dict[str, Any], raw: bool) -> None:
    events = _events_in(message["msgBody"])
    if raw:
        emit_line({"Events": events} if events is not None else message["msgBody"])
        return
    if events is None:
        line = Text.assemble(
            (message["msgId"], "bold"), " (not a batchd event) ", message["msgBody"]
        )
        out.print(line, soft_wrap=True)
        return
    for event in events:
        name = str(event["EventName"])
        batch = event.get("Batch")
        batch = batch if isinstance(batch, dict) else {}
        line = Text.assemble(
            str(event.get("EventTime", "")),
            " ",
            (name, "bold"),
            " ",
            resource(name, batch),
            " ",
            state(name),
        )
        out.print(line, soft_wrap=True)


def _follow(client: CmqClient, queue: str, count: int | None, wait: int, raw: bool) -> int:
    """Receive, print and delete until `count` messages or a stop; how many were handled."""
    client.call("GetQueueAttributes", {"queueName": queue})  # a wrong name fails before waiting
    handled = 0
    waiting = f"waiting for events on queue {queue} (Ctrl-C to stop)"
    with (
        receiver.Stopper() as stopper,
        receiver.status(waiting, spinner=True, line=True) as update,
    ):
        while not stopper.requested and (count is None or handled < count):
            # never receive more than --count still wants: the rest would stay hidden
            wanted = MAX_RECEIVE if count is None else min(MAX_RECEIVE, count - handled)
            try:
                with stopper.interruptible():
                    messages = receiver.receive(client, queue, wanted, wait)
            except receiver.Stop:
                break
            for message in messages:
                _show_message(message, raw)
            if messages:
                receiver.delete(client, queue, messages)
                handled += len(messages)
                update(f"{handled} received and deleted; {waiting}")
    return handled


@events_app.command("follow")
def follow(
    queue: QueueArg,
    count: Annotated[
        int | None,
        typer.Option("--count", "-n", min=1, help="Stop after this many events. Default: never"),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print each decoded envelope as one JSON line")
    ] = False,
    wait: Annotated[
        int, typer.Option(min=1, max=30, help="Long poll: seconds each receive waits")
    ] = 30,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Tail a queue subscribed to a topic of events: print each event (time, name, resource,
    state) as it arrives, decoded, then delete it. Ctrl-C or SIGTERM stops.

    `batchd events --follow QUEUE` is the same.
    """
    with cmq_connection.connect(endpoint, data_dir) as client:
        handled = _follow(client, queue, count, wait, raw)
    err.print(f"stopped: {handled} message(s) received and deleted", markup=False)

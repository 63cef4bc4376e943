"""Client commands: queues, topics, subscriptions and push dead letters over the CMQ API."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import httpx
import typer
from rich.text import Text

from batchd import settings as settings_module
from batchd.cli.client import CmqClient, CmqError
from batchd.cli.output import Format, compact, decode_body, emit, emit_line, err, fail, out

EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="Server URL (BATCHD_ENDPOINT). Default: http://127.0.0.1:<BATCHD_PORT or 8910>",
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory of the server, where `batchd serve` wrote credentials.json "
        "(BATCHD_DATA_DIR). Default: ./.batchd. Not needed with BATCHD_SECRET_ID and "
        "BATCHD_SECRET_KEY",
    ),
]
OutputOpt = Annotated[
    Format,
    typer.Option("--output", "-o", help="table (for people) or json (for scripts)"),
]
QueueArg = Annotated[str, typer.Argument(help="Queue name", show_default=False)]
TopicArg = Annotated[str, typer.Argument(help="Topic name", show_default=False)]
SubscriptionArg = Annotated[str, typer.Argument(help="Subscription name", show_default=False)]


@contextmanager
def _client(endpoint: str | None, data_dir: Path | None) -> Iterator[CmqClient]:
    try:
        config = settings_module.load_client(endpoint, data_dir)
        client = CmqClient(
            config.endpoint, config.credential.secret_id, config.credential.secret_key
        )
    except (settings_module.SettingsError, ValueError) as error:
        fail(str(error))
        raise typer.Exit(2) from None
    try:
        yield client
    except CmqError as error:
        fail(error.message if error.code == -1 else f"{error.message} (code {error.code})")
        raise typer.Exit(1) from None
    except httpx.HTTPError as error:
        fail(
            f"cannot reach {client.endpoint}: {str(error) or type(error).__name__}. "
            "Is `batchd serve` running? Use --endpoint (or BATCHD_ENDPOINT) to point elsewhere."
        )
        raise typer.Exit(1) from None
    finally:
        client.close()


def _paged(client: CmqClient, action: str, key: str, params: dict[str, Any]) -> list[Any]:
    items: list[Any] = []
    while True:
        data = client.call(action, {**params, "offset": len(items), "limit": 50})
        batch = data[key]
        items.extend(batch)
        if not batch or len(items) >= data["totalCount"]:
            return items


queue_app = typer.Typer(help="Queues: create, inspect, send, receive.", no_args_is_help=True)
topic_app = typer.Typer(help="Topics: create, inspect, publish.", no_args_is_help=True)
subscription_app = typer.Typer(help="Subscriptions of a topic.", no_args_is_help=True)
deadletters_app = typer.Typer(
    help="Push deliveries that exhausted their retries.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(queue_app, name="queue")
    app.add_typer(topic_app, name="topic")
    app.add_typer(subscription_app, name="subscription")
    app.add_typer(deadletters_app, name="deadletters")


# --- queue -----------------------------------------------------------------------------------


@queue_app.command("create")
def queue_create(
    name: QueueArg,
    visibility_timeout: Annotated[
        int | None, typer.Option(help="Seconds hidden after receive")
    ] = None,
    polling_wait_seconds: Annotated[int | None, typer.Option(help="Default long-poll wait")] = None,
    max_msg_size: Annotated[int | None, typer.Option(help="Largest body in bytes")] = None,
    msg_retention_seconds: Annotated[int | None, typer.Option(help="Message lifetime")] = None,
    rewind_seconds: Annotated[
        int | None, typer.Option(help="Keep deleted messages this long")
    ] = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create a queue."""
    with _client(endpoint, data_dir) as client:
        data = client.call(
            "CreateQueue",
            {
                "queueName": name,
                "visibilityTimeout": visibility_timeout,
                "pollingWaitSeconds": polling_wait_seconds,
                "maxMsgSize": max_msg_size,
                "msgRetentionSeconds": msg_retention_seconds,
                "rewindSeconds": rewind_seconds,
            },
        )
        emit({"queueName": name, "queueId": data["queueId"]}, output)


@queue_app.command("list")
def queue_list(
    search: Annotated[str, typer.Option(help="Only names containing this")] = "",
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List queues."""
    with _client(endpoint, data_dir) as client:
        params = {"searchWord": search} if search else {}
        queues = _paged(client, "ListQueue", "queueList", params)
        emit(queues, output, ["queueName", "queueId"])


@queue_app.command("show")
def queue_show(
    name: QueueArg,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Show a queue's attributes and counters."""
    with _client(endpoint, data_dir) as client:
        data = client.call("GetQueueAttributes", {"queueName": name})
        for key in ("code", "message", "requestId"):
            data.pop(key, None)
        if output is Format.JSON:
            emit(data, output)
        else:
            emit([{"attribute": k, "value": v} for k, v in data.items()], output)


@queue_app.command("delete")
def queue_delete(name: QueueArg, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete a queue and its messages."""
    with _client(endpoint, data_dir) as client:
        client.call("DeleteQueue", {"queueName": name})
        err.print(f"deleted queue {name}")


@queue_app.command("send")
def queue_send(
    name: QueueArg,
    bodies: Annotated[list[str], typer.Argument(help="One or more message bodies (≤ 16)")],
    delay: Annotated[int, typer.Option(help="Seconds before the messages become visible")] = 0,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Send messages to a queue."""
    with _client(endpoint, data_dir) as client:
        if len(bodies) == 1:
            data = client.call(
                "SendMessage", {"queueName": name, "msgBody": bodies[0], "delaySeconds": delay}
            )
            emit([{"msgId": data["msgId"]}], output)
        else:
            params: dict[str, Any] = {"queueName": name, "delaySeconds": delay}
            params.update({f"msgBody.{i}": body for i, body in enumerate(bodies, start=1)})
            emit(client.call("BatchSendMessage", params)["msgList"], output)


def _shown(message: dict[str, Any], decode: bool) -> dict[str, Any]:
    shown = dict(message)
    if decode:
        shown["msgBody"] = decode_body(message["msgBody"])
    return shown


class _Stop(Exception):
    """SIGINT or SIGTERM arrived while nothing was in hand: leave at once."""


class _Stopper:
    """Ctrl-C / SIGTERM end `receive --follow` cleanly.

    While a long poll is waiting, a signal interrupts it at once; while received messages
    are being shown and deleted, it only asks the loop to stop after that batch, so that
    nothing shown is left undeleted.
    """

    def __init__(self) -> None:
        self.requested = False
        self._interruptible = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stopper:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True
        if self._interruptible:
            raise _Stop

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        if self.requested:
            raise _Stop
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False


@contextmanager
def _status(text: str, *, spinner: bool, line: bool) -> Iterator[Callable[[str], None]]:
    """While waiting: a `spinner` on stderr if it is a terminal, else `text` once as a `line`."""
    if err.is_terminal and spinner:
        with err.status(text) as status:
            yield status.update
        return
    if line and not err.is_terminal:
        err.print(text, markup=False, highlight=False)
    yield lambda _text: None


def _receive(client: CmqClient, name: str, count: int, wait: int) -> list[dict[str, Any]]:
    """Up to `count` messages, waiting up to `wait` seconds; [] when there is none."""
    try:
        data = client.call(
            "BatchReceiveMessage",
            {"queueName": name, "numOfMsg": count, "pollingWaitSeconds": wait},
            wait_seconds=wait,
        )
    except CmqError as error:
        if error.code != 7000:  # 7000: no message
            raise
        return []
    messages: list[dict[str, Any]] = data["msgInfoList"]
    return messages


def _delete(client: CmqClient, name: str, messages: list[dict[str, Any]]) -> None:
    params: dict[str, Any] = {"queueName": name}
    params.update(
        {f"receiptHandle.{i}": m["receiptHandle"] for i, m in enumerate(messages, start=1)}
    )
    client.call("BatchDeleteMessage", params)


def _follow(
    client: CmqClient, name: str, count: int, wait: int, decode: bool, output: Format
) -> None:
    client.call("GetQueueAttributes", {"queueName": name})  # a wrong name fails before waiting
    received = 0
    waiting = f"waiting for messages on queue {name} (Ctrl-C to stop)"
    with _Stopper() as stopper, _status(waiting, spinner=True, line=True) as update:
        while not stopper.requested:
            try:
                with stopper.interruptible():
                    messages = _receive(client, name, count, wait)
            except _Stop:
                break
            # (a closed stdout, e.g. `| head -n 1`, makes rich exit 1: the batch is not deleted)
            for message in messages:
                shown = _shown(message, decode)
                if output is Format.JSON:
                    emit_line(shown)
                else:
                    line = Text.assemble((message["msgId"], "bold"), " ", compact(shown["msgBody"]))
                    out.print(line, soft_wrap=True)
            if messages:
                _delete(client, name, messages)
                received += len(messages)
                update(f"{received} received and deleted; {waiting}")
    err.print(f"stopped: {received} messages received and deleted")


@queue_app.command("receive")
def queue_receive(
    name: QueueArg,
    count: Annotated[
        int, typer.Option("--count", "-n", help="Most messages per request (1-16)")
    ] = 1,
    wait: Annotated[
        int,
        typer.Option(help="Long poll: seconds to wait for a message (0-30; --follow: 30 when 0)"),
    ] = 0,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep receiving; print each message as it arrives, then delete it. "
            "Stop with Ctrl-C or SIGTERM. With -o json: one JSON object per line",
        ),
    ] = False,
    delete: Annotated[
        bool, typer.Option(help="Delete the messages received (--follow always does)")
    ] = False,
    decode: Annotated[
        bool, typer.Option(help="Show a Base64 JSON body (batchd events) as JSON")
    ] = False,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Receive messages (they stay hidden for the queue's visibility timeout unless deleted).

    With --follow, stream them and delete each after showing it.
    """
    with _client(endpoint, data_dir) as client:
        if follow:
            _follow(client, name, count, wait or 30, decode, output)
            return
        waiting = f"waiting up to {wait} s for messages on queue {name}"
        with _status(waiting, spinner=wait > 0, line=False):
            messages = _receive(client, name, count, wait)
        if messages and delete:
            _delete(client, name, messages)
        if not messages and output is Format.TABLE:
            err.print("no message")
            return
        emit(
            [_shown(m, decode) for m in messages],
            output,
            ["msgId", "msgBody", "dequeueCount", "receiptHandle"],
        )


@queue_app.command("purge")
def queue_purge(name: QueueArg, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete every message of a queue."""
    with _client(endpoint, data_dir) as client:
        client.call("PurgeQueue", {"queueName": name})
        err.print(f"purged queue {name}")


# --- topic -----------------------------------------------------------------------------------


@topic_app.command("create")
def topic_create(
    name: TopicArg,
    filter_type: Annotated[int, typer.Option(help="1: tags, 2: routing keys")] = 1,
    max_msg_size: Annotated[int, typer.Option(help="Largest body in bytes")] = 65536,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create a topic."""
    with _client(endpoint, data_dir) as client:
        data = client.call(
            "CreateTopic",
            {"topicName": name, "filterType": filter_type, "maxMsgSize": max_msg_size},
        )
        emit({"topicName": name, "topicId": data["topicId"]}, output)


@topic_app.command("list")
def topic_list(
    search: Annotated[str, typer.Option(help="Only names containing this")] = "",
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List topics."""
    with _client(endpoint, data_dir) as client:
        params = {"searchWord": search} if search else {}
        emit(_paged(client, "ListTopic", "topicList", params), output, ["topicName", "topicId"])


@topic_app.command("show")
def topic_show(
    name: TopicArg,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Show a topic's attributes."""
    with _client(endpoint, data_dir) as client:
        data = client.call("GetTopicAttributes", {"topicName": name})
        for key in ("code", "message", "requestId"):
            data.pop(key, None)
        if output is Format.JSON:
            emit(data, output)
        else:
            emit([{"attribute": k, "value": v} for k, v in data.items()], output)


@topic_app.command("delete")
def topic_delete(name: TopicArg, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete a topic (it must have no subscriptions)."""
    with _client(endpoint, data_dir) as client:
        client.call("DeleteTopic", {"topicName": name})
        err.print(f"deleted topic {name}")


@topic_app.command("publish")
def topic_publish(
    name: TopicArg,
    bodies: Annotated[list[str], typer.Argument(help="One or more message bodies (≤ 16)")],
    tag: Annotated[list[str] | None, typer.Option(help="Message tag (repeatable, ≤ 5)")] = None,
    routing_key: Annotated[str, typer.Option(help="Routing key (filterType 2 topics)")] = "",
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Publish messages to a topic."""
    with _client(endpoint, data_dir) as client:
        params: dict[str, Any] = {"topicName": name, "routingKey": routing_key}
        params.update({f"msgTag.{i}": t for i, t in enumerate(tag or [], start=1)})
        if len(bodies) == 1:
            data = client.call("PublishMessage", {**params, "msgBody": bodies[0]})
            emit([{"msgId": data["msgId"]}], output)
        else:
            params.update({f"msgBody.{i}": body for i, body in enumerate(bodies, start=1)})
            emit(client.call("BatchPublishMessage", params)["msgList"], output)


# --- subscription ----------------------------------------------------------------------------


@subscription_app.command("create")
def subscription_create(
    topic: TopicArg,
    name: SubscriptionArg,
    endpoint_target: Annotated[
        str, typer.Option("--to", help="Queue name, or http(s):// URL to push to")
    ],
    filter_tag: Annotated[list[str] | None, typer.Option(help="Filter tag (repeatable)")] = None,
    binding_key: Annotated[list[str] | None, typer.Option(help="Binding key (repeatable)")] = None,
    strategy: Annotated[
        str, typer.Option(help="BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY")
    ] = "EXPONENTIAL_DECAY_RETRY",
    content_format: Annotated[
        str | None, typer.Option(help="JSON or SIMPLIFIED (queues: SIMPLIFIED)")
    ] = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Subscribe a queue (--to NAME) or an HTTP endpoint (--to URL) to a topic."""
    protocol = "http" if endpoint_target.startswith(("http://", "https://")) else "queue"
    params: dict[str, Any] = {
        "topicName": topic,
        "subscriptionName": name,
        "protocol": protocol,
        "endpoint": endpoint_target,
        "notifyStrategy": strategy,
        "notifyContentFormat": content_format or ("SIMPLIFIED" if protocol == "queue" else "JSON"),
    }
    params.update({f"filterTag.{i}": t for i, t in enumerate(filter_tag or [], start=1)})
    params.update({f"bindingKey.{i}": k for i, k in enumerate(binding_key or [], start=1)})
    with _client(endpoint, data_dir) as client:
        data = client.call("Subscribe", params)
        emit({"subscriptionName": name, "subscriptionId": data["subscriptionId"]}, output)


@subscription_app.command("list")
def subscription_list(
    topic: TopicArg,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List a topic's subscriptions."""
    with _client(endpoint, data_dir) as client:
        found = _paged(client, "ListSubscriptionByTopic", "subscriptionList", {"topicName": topic})
        emit(found, output, ["subscriptionName", "protocol", "endpoint", "subscriptionId"])


@subscription_app.command("delete")
def subscription_delete(
    topic: TopicArg,
    name: SubscriptionArg,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Remove a subscription (its pending deliveries are dropped)."""
    with _client(endpoint, data_dir) as client:
        client.call("Unsubscribe", {"topicName": topic, "subscriptionName": name})
        err.print(f"deleted subscription {name} of topic {topic}")


# --- dead letters ----------------------------------------------------------------------------


@deadletters_app.command("list")
def deadletters_list(
    topic: Annotated[str | None, typer.Option(help="Only deliveries of this topic")] = None,
    decode: Annotated[bool, typer.Option(help="Show Base64 JSON bodies as JSON")] = False,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List push deliveries that exhausted their retries."""
    with _client(endpoint, data_dir) as client:
        params = {"topicName": topic} if topic else {}
        found = _paged(client, "ListDeadLetterDeliveries", "deliveryList", params)
        emit(
            [_shown(d, decode) for d in found],
            output,
            [
                "deliveryId",
                "topicName",
                "subscriptionName",
                "endpoint",
                "attempts",
                "lastError",
                "msgBody",
            ],
        )


@deadletters_app.command("redrive")
def deadletters_redrive(
    delivery_ids: Annotated[
        list[int] | None, typer.Argument(help="Deliveries to retry; none: all of them")
    ] = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Make dead-lettered deliveries pending again, with a fresh retry schedule."""
    with _client(endpoint, data_dir) as client:
        params = {f"deliveryId.{i}": d for i, d in enumerate(delivery_ids or [], start=1)}
        count = client.call("RedriveDeadLetterDeliveries", params)["redrivenCount"]
        err.print(f"redriven {count} deliveries")

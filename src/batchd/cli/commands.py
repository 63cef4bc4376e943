"""Client commands: queues, topics, subscriptions and push dead letters over the CMQ API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from batchd import settings as settings_module
from batchd.cli.client import CmqClient, CmqError
from batchd.cli.output import Format, decode_body, emit, err, out

EndpointOpt = Annotated[
    str | None,
    typer.Option("--endpoint", help="Server URL (BATCHD_ENDPOINT). Default: http://127.0.0.1:8910"),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the credentials file is (BATCHD_DATA_DIR)."),
]
OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="table or json")]


@contextmanager
def _client(endpoint: str | None, data_dir: Path | None) -> Iterator[CmqClient]:
    try:
        config = settings_module.load_client(endpoint, data_dir)
        client = CmqClient(
            config.endpoint, config.credential.secret_id, config.credential.secret_key
        )
    except (settings_module.SettingsError, ValueError) as error:
        err.print(f"[red]batchd: {error}[/red]")
        raise typer.Exit(2) from None
    try:
        yield client
    except CmqError as error:
        err.print(f"[red]batchd: {error.message} (code {error.code})[/red]")
        raise typer.Exit(1) from None
    except httpx.HTTPError as error:
        err.print(
            f"[red]batchd: cannot reach {client.endpoint}: {error}. "
            "Is `batchd serve` running? Use --endpoint to point elsewhere.[/red]"
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
    name: str,
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
    name: str,
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
def queue_delete(name: str, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete a queue and its messages."""
    with _client(endpoint, data_dir) as client:
        client.call("DeleteQueue", {"queueName": name})
        err.print(f"deleted queue {name}")


@queue_app.command("send")
def queue_send(
    name: str,
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


@queue_app.command("receive")
def queue_receive(
    name: str,
    count: Annotated[int, typer.Option("--count", "-n", help="Messages per call (1-16)")] = 1,
    wait: Annotated[int, typer.Option(help="Long-poll seconds (0-30)")] = 0,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep receiving and deleting until Ctrl-C")
    ] = False,
    delete: Annotated[bool, typer.Option(help="Delete each message once shown")] = False,
    decode: Annotated[
        bool, typer.Option(help="Show a Base64 JSON body (batchd events) as JSON")
    ] = False,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Receive messages; with --follow, stream and delete them as they arrive."""
    with _client(endpoint, data_dir) as client:
        wait_seconds = 30 if follow and wait == 0 else wait
        try:
            while True:
                try:
                    data = client.call(
                        "BatchReceiveMessage",
                        {"queueName": name, "numOfMsg": count, "pollingWaitSeconds": wait_seconds},
                        wait_seconds=wait_seconds,
                    )
                    messages = data["msgInfoList"]
                except CmqError as error:
                    if error.code != 7000:
                        raise
                    messages = []
                    if not follow:
                        err.print("no message")
                        return
                for message in messages:
                    if output is Format.JSON and follow:
                        out.print_json(data=_shown(message, decode))
                    elif follow:
                        body = _shown(message, decode)["msgBody"]
                        out.print(f"[bold]{message['msgId']}[/bold]", body)
                if messages and (delete or follow):
                    params: dict[str, Any] = {"queueName": name}
                    params.update(
                        {
                            f"receiptHandle.{i}": m["receiptHandle"]
                            for i, m in enumerate(messages, start=1)
                        }
                    )
                    client.call("BatchDeleteMessage", params)
                if not follow:
                    emit(
                        [_shown(m, decode) for m in messages],
                        output,
                        ["msgId", "msgBody", "dequeueCount", "receiptHandle"],
                    )
                    return
        except KeyboardInterrupt:
            err.print("stopped")


@queue_app.command("purge")
def queue_purge(name: str, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete every message of a queue."""
    with _client(endpoint, data_dir) as client:
        client.call("PurgeQueue", {"queueName": name})
        err.print(f"purged queue {name}")


# --- topic -----------------------------------------------------------------------------------


@topic_app.command("create")
def topic_create(
    name: str,
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
    name: str,
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
def topic_delete(name: str, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete a topic (it must have no subscriptions)."""
    with _client(endpoint, data_dir) as client:
        client.call("DeleteTopic", {"topicName": name})
        err.print(f"deleted topic {name}")


@topic_app.command("publish")
def topic_publish(
    name: str,
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
    topic: str,
    name: str,
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
    topic: str,
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
    topic: str, name: str, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None
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

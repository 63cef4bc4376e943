"""`batchd queue`: create, inspect, send to, receive from and purge queues."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from batchd.cli import receiver
from batchd.cli.client import CmqClient
from batchd.cli.cmq_connection import connect, paged
from batchd.cli.option import DataDirOpt, EndpointOpt, OutputOpt, QueueArg
from batchd.cli.output import (
    Format,
    compact,
    emit,
    emit_cmq_attributes,
    emit_line,
    err,
    out,
    shown_message,
)

queue_app = typer.Typer(help="Queues: create, inspect, send, receive.", no_args_is_help=True)


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
    with connect(endpoint, data_dir) as client:
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
    with connect(endpoint, data_dir) as client:
        params = {"searchWord": search} if search else {}
        queues = paged(client, "ListQueue", "queueList", params)
        emit(queues, output, ["queueName", "queueId"])


@queue_app.command("show")
def queue_show(
    name: QueueArg,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Show a queue's attributes and counters."""
    with connect(endpoint, data_dir) as client:
        emit_cmq_attributes(client.call("GetQueueAttributes", {"queueName": name}), output)


@queue_app.command("delete")
def queue_delete(name: QueueArg, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete a queue and its messages."""
    with connect(endpoint, data_dir) as client:
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
    with connect(endpoint, data_dir) as client:
        if len(bodies) == 1:
            data = client.call(
                "SendMessage", {"queueName": name, "msgBody": bodies[0], "delaySeconds": delay}
            )
            emit([{"msgId": data["msgId"]}], output)
        else:
            params: dict[str, Any] = {"queueName": name, "delaySeconds": delay}
            params.update({f"msgBody.{i}": body for i, body in enumerate(bodies, start=1)})
            emit(client.call("BatchSendMessage", params)["msgList"], output)


def _follow(
    client: CmqClient, name: str, count: int, wait: int, decode: bool, output: Format
) -> None:
    client.call("GetQueueAttributes", {"queueName": name})  # a wrong name fails before waiting
    received = 0
    waiting = f"waiting for messages on queue {name} (Ctrl-C to stop)"
    with receiver.Stopper() as stopper, receiver.status(waiting, spinner=True, line=True) as update:
        while not stopper.requested:
            try:
                with stopper.interruptible():
                    messages = receiver.receive(client, name, count, wait)
            except receiver.Stop:
                break
            # (a closed stdout, e.g. `| head -n 1`, makes rich exit 1: the batch is not deleted)
            for message in messages:
                shown = shown_message(message, decode)
                if output is Format.JSON:
                    emit_line(shown)
                else:
                    line = Text.assemble((message["msgId"], "bold"), " ", compact(shown["msgBody"]))
                    out.print(line, soft_wrap=True)
            if messages:
                receiver.delete(client, name, messages)
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
    with connect(endpoint, data_dir) as client:
        if follow:
            _follow(client, name, count, wait or 30, decode, output)
            return
        waiting = f"waiting up to {wait} s for messages on queue {name}"
        with receiver.status(waiting, spinner=wait > 0, line=False):
            messages = receiver.receive(client, name, count, wait)
        if messages and delete:
            receiver.delete(client, name, messages)
        if not messages and output is Format.TABLE:
            err.print("no message")
            return
        emit(
            [shown_message(m, decode) for m in messages],
            output,
            ["msgId", "msgBody", "dequeueCount", "receiptHandle"],
        )


@queue_app.command("purge")
def queue_purge(name: QueueArg, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete every message of a queue."""
    with connect(endpoint, data_dir) as client:
        client.call("PurgeQueue", {"queueName": name})
        err.print(f"purged queue {name}")

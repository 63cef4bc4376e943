"""`batchd topic`: create, inspect, delete and publish to topics."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from batchd.cli.cmq_connection import connect, paged
from batchd.cli.option import DataDirOpt, EndpointOpt, OutputOpt, TopicArg
from batchd.cli.output import Format, emit, emit_cmq_attributes, err

topic_app = typer.Typer(help="Topics: create, inspect, publish.", no_args_is_help=True)


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
    with connect(endpoint, data_dir) as client:
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
    with connect(endpoint, data_dir) as client:
        params = {"searchWord": search} if search else {}
        emit(paged(client, "ListTopic", "topicList", params), output, ["topicName", "topicId"])


@topic_app.command("show")
def topic_show(
    name: TopicArg,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Show a topic's attributes."""
    with connect(endpoint, data_dir) as client:
        emit_cmq_attributes(client.call("GetTopicAttributes", {"topicName": name}), output)


@topic_app.command("delete")
def topic_delete(name: TopicArg, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete a topic (it must have no subscriptions)."""
    with connect(endpoint, data_dir) as client:
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
    with connect(endpoint, data_dir) as client:
        params: dict[str, Any] = {"topicName": name, "routingKey": routing_key}
        params.update({f"msgTag.{i}": t for i, t in enumerate(tag or [], start=1)})
        if len(bodies) == 1:
            data = client.call("PublishMessage", {**params, "msgBody": bodies[0]})
            emit([{"msgId": data["msgId"]}], output)
        else:
            params.update({f"msgBody.{i}": body for i, body in enumerate(bodies, start=1)})
            emit(client.call("BatchPublishMessage", params)["msgList"], output)

"""`batchd subscription`: subscribe a queue or an HTTP endpoint to a topic, list and remove
subscriptions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from batchd.cli.cmq_connection import connect, paged
from batchd.cli.option import DataDirOpt, EndpointOpt, OutputOpt, TopicArg
from batchd.cli.output import Format, emit, err

SubscriptionArg = Annotated[str, typer.Argument(help="Subscription name", show_default=False)]

subscription_app = typer.Typer(help="Subscriptions of a topic.", no_args_is_help=True)


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
    with connect(endpoint, data_dir) as client:
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
    with connect(endpoint, data_dir) as client:
        found = paged(client, "ListSubscriptionByTopic", "subscriptionList", {"topicName": topic})
        emit(found, output, ["subscriptionName", "protocol", "endpoint", "subscriptionId"])


@subscription_app.command("delete")
def subscription_delete(
    topic: TopicArg,
    name: SubscriptionArg,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Remove a subscription (its pending deliveries are dropped)."""
    with connect(endpoint, data_dir) as client:
        client.call("Unsubscribe", {"topicName": topic, "subscriptionName": name})
        err.print(f"deleted subscription {name} of topic {topic}")

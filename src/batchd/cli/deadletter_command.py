"""`batchd deadletters`: the push deliveries that exhausted their retries, listed and redriven."""

from __future__ import annotations

from typing import Annotated

import typer

from batchd.cli.cmq_connection import connect, paged
from batchd.cli.option import DataDirOpt, EndpointOpt, OutputOpt
from batchd.cli.output import Format, emit, err, shown_message

deadletters_app = typer.Typer(
    help="Push deliveries that exhausted their retries.", no_args_is_help=True
)


@deadletters_app.command("list")
def deadletters_list(
    topic: Annotated[str | None, typer.Option(help="Only deliveries of this topic")] = None,
    decode: Annotated[bool, typer.Option(help="Show Base64 JSON bodies as JSON")] = False,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List push deliveries that exhausted their retries."""
    with connect(endpoint, data_dir) as client:
        params = {"topicName": topic} if topic else {}
        found = paged(client, "ListDeadLetterDeliveries", "deliveryList", params)
        emit(
            [shown_message(d, decode) for d in found],
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
    with connect(endpoint, data_dir) as client:
        params = {f"deliveryId.{i}": d for i, d in enumerate(delivery_ids or [], start=1)}
        count = client.call("RedriveDeadLetterDeliveries", params)["redrivenCount"]
        err.print(f"redriven {count} deliveries")

"""Message service: queues, messages, topics, subscriptions, topic messages, deliveries.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "queues",
        sa.Column("pk", Id, primary_key=True, autoincrement=True),
        sa.Column("queue_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_key", sa.String(64), nullable=False),
        sa.Column("max_msg_heap_num", sa.BigInteger, nullable=False),
        sa.Column("polling_wait_seconds", sa.Integer, nullable=False),
        sa.Column("visibility_timeout", sa.Integer, nullable=False),
        sa.Column("max_msg_size", sa.Integer, nullable=False),
        sa.Column("msg_retention_seconds", sa.Integer, nullable=False),
        sa.Column("rewind_seconds", sa.Integer, nullable=False),
        sa.Column("dead_letter_queue", sa.String(64), nullable=True),
        sa.Column("dead_letter_policy", sa.Integer, nullable=True),
        sa.Column("max_receive_count", sa.Integer, nullable=False),
        sa.Column("max_time_to_live", sa.Integer, nullable=False),
        sa.Column("msg_num", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("modified_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_queues"),
        sa.UniqueConstraint("queue_id", name="uq_queues_queue_id"),
        sa.UniqueConstraint(
            "account", "region", "name_key", name="uq_queues_account_region_name_key"
        ),
    )
    op.create_table(
        "messages",
        sa.Column("pk", Id, primary_key=True, autoincrement=True),
        sa.Column("queue_pk", Id, nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("enqueue_ms", sa.BigInteger, nullable=False),
        sa.Column("visible_ms", sa.BigInteger, nullable=False),
        sa.Column("dequeue_count", sa.Integer, nullable=False),
        sa.Column("first_dequeue_ms", sa.BigInteger, nullable=False),
        sa.Column("receipt_token", sa.String(32), nullable=True),
        sa.Column("deleted_ms", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("pk", name="pk_messages"),
        sa.ForeignKeyConstraint(
            ["queue_pk"], ["queues.pk"], name="fk_messages_queue_pk_queues", ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_messages_queue_order", "messages", ["queue_pk", "deleted_ms", "enqueue_ms", "pk"]
    )
    op.create_table(
        "topics",
        sa.Column("pk", Id, primary_key=True, autoincrement=True),
        sa.Column("topic_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("max_msg_size", sa.Integer, nullable=False),
        sa.Column("filter_type", sa.Integer, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("modified_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_topics"),
        sa.UniqueConstraint("topic_id", name="uq_topics_topic_id"),
        sa.UniqueConstraint("account", "region", "name", name="uq_topics_account_region_name"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("pk", Id, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("topic_pk", Id, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("notify_strategy", sa.String(32), nullable=False),
        sa.Column("content_format", sa.String(16), nullable=False),
        sa.Column("filter_tags", sa.Text, nullable=False),
        sa.Column("binding_keys", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("modified_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_subscriptions"),
        sa.UniqueConstraint("subscription_id", name="uq_subscriptions_subscription_id"),
        sa.UniqueConstraint("topic_pk", "name", name="uq_subscriptions_topic_pk_name"),
        sa.ForeignKeyConstraint(
            ["topic_pk"], ["topics.pk"], name="fk_subscriptions_topic_pk_topics", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "topic_messages",
        sa.Column("pk", Id, primary_key=True, autoincrement=True),
        sa.Column("topic_pk", Id, nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("routing_key", sa.String(64), nullable=False),
        sa.Column("publish_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_topic_messages"),
        sa.ForeignKeyConstraint(
            ["topic_pk"],
            ["topics.pk"],
            name="fk_topic_messages_topic_pk_topics",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "deliveries",
        sa.Column("pk", Id, primary_key=True, autoincrement=True),
        sa.Column("subscription_pk", Id, nullable=False),
        sa.Column("topic_message_pk", Id, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger, nullable=False),
        sa.Column("dead", sa.Boolean, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["subscription_pk"],
            ["subscriptions.pk"],
            name="fk_deliveries_subscription_pk_subscriptions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_message_pk"],
            ["topic_messages.pk"],
            name="fk_deliveries_topic_message_pk_topic_messages",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["dead", "next_attempt_ms"])
    op.create_index("ix_deliveries_subscription", "deliveries", ["subscription_pk"])
    op.create_index("ix_deliveries_topic_message", "deliveries", ["topic_message_pk"])


def downgrade() -> None:
    for table in ("deliveries", "topic_messages", "subscriptions", "topics", "messages", "queues"):
        op.drop_table(table)

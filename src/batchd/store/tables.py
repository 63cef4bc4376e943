"""SQLAlchemy table definitions: the schema the migrations must produce."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

queues = Table(
    "queues",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("queue_id", String(64), nullable=False, unique=True),
    Column("account", String(64), nullable=False),
    Column("region", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("name_key", String(64), nullable=False),  # lower-case: names are unique ignoring case
    Column("max_msg_heap_num", BigInteger, nullable=False),
    Column("polling_wait_seconds", Integer, nullable=False),
    Column("visibility_timeout", Integer, nullable=False),
    Column("max_msg_size", Integer, nullable=False),
    Column("msg_retention_seconds", Integer, nullable=False),
    Column("rewind_seconds", Integer, nullable=False),
    Column("dead_letter_queue", String(64), nullable=True),
    Column("dead_letter_policy", Integer, nullable=True),
    Column("max_receive_count", Integer, nullable=False, default=0),
    Column("max_time_to_live", Integer, nullable=False, default=0),
    Column("msg_num", BigInteger, nullable=False, default=0),  # stored, not deleted
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
    UniqueConstraint("account", "region", "name_key"),
)

messages = Table(
    "messages",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("queue_pk", Id, ForeignKey("queues.pk", ondelete="CASCADE"), nullable=False),
    Column("msg_id", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("enqueue_ms", BigInteger, nullable=False),
    Column("visible_ms", BigInteger, nullable=False),
    Column("dequeue_count", Integer, nullable=False, default=0),
    Column("first_dequeue_ms", BigInteger, nullable=False, default=0),
    Column("receipt_token", String(32), nullable=True),
    Column("deleted_ms", BigInteger, nullable=True),  # set: deleted but kept for rewind
    Index("ix_messages_queue_order", "queue_pk", "deleted_ms", "enqueue_ms", "pk"),
)

topics = Table(
    "topics",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("topic_id", String(64), nullable=False, unique=True),
    Column("account", String(64), nullable=False),
    Column("region", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("max_msg_size", Integer, nullable=False),
    Column("filter_type", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
    UniqueConstraint("account", "region", "name"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("subscription_id", String(64), nullable=False, unique=True),
    Column("topic_pk", Id, ForeignKey("topics.pk", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("notify_strategy", String(32), nullable=False),
    Column("content_format", String(16), nullable=False),
    Column("filter_tags", Text, nullable=False),  # JSON list
    Column("binding_keys", Text, nullable=False),  # JSON list
    Column("created_ms", BigInteger, nullable=False),
    Column("modified_ms", BigInteger, nullable=False),
    UniqueConstraint("topic_pk", "name"),
)

# A published message kept while at least one delivery of it is pending or dead-lettered.
topic_messages = Table(
    "topic_messages",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("topic_pk", Id, ForeignKey("topics.pk", ondelete="CASCADE"), nullable=False),
    Column("msg_id", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("tags", Text, nullable=False),  # JSON list
    Column("routing_key", String(64), nullable=False),
    Column("publish_ms", BigInteger, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column(
        "subscription_pk", Id, ForeignKey("subscriptions.pk", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "topic_message_pk", Id, ForeignKey("topic_messages.pk", ondelete="CASCADE"), nullable=False
    ),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("dead", Boolean, nullable=False, default=False),
    Column("last_error", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_deliveries_due", "dead", "next_attempt_ms"),
    Index("ix_deliveries_subscription", "subscription_pk"),
    Index("ix_deliveries_topic_message", "topic_message_pk"),
)

# The one row that says which replica leads (see store/lease.py): epoch fences its writes.
leader_lease = Table(
    "leader_lease",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
    Column("holder", String(128), nullable=False),
    Column("url", Text, nullable=False),
    Column("session", Integer, nullable=False),  # the holder's lease connection (backend pid)
    Column("expires_ms", BigInteger, nullable=False),
)

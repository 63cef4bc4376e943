"""The action names of TDMQ API version 2020-02-17: the CMQ ones batchd serves, and the others
(Pulsar, RocketMQ, RabbitMQ clusters…), which it answers with UnsupportedOperation."""

from __future__ import annotations

VERSION = "2020-02-17"
SERVICE = "tdmq"

# tdmq-api.md §2
CMQ = frozenset(
    {
        "CreateCmqQueue",
        "DescribeCmqQueues",
        "DescribeCmqQueueDetail",
        "ModifyCmqQueueAttribute",
        "DeleteCmqQueue",
        "ClearCmqQueue",
        "RewindCmqQueue",
        "UnbindCmqDeadLetter",
        "CreateCmqTopic",
        "DescribeCmqTopics",
        "DescribeCmqTopicDetail",
        "ModifyCmqTopicAttribute",
        "DeleteCmqTopic",
        "CreateCmqSubscribe",
        "DescribeCmqSubscriptionDetail",
        "ModifyCmqSubscriptionAttribute",
        "DeleteCmqSubscribe",
        "ClearCmqSubscriptionFilterTags",
        "SendCmqMsg",
        "PublishCmqMsg",
    }
)

# Every other action of the version, as the official SDKs of 2026 name them (a word list: one
# name a line would be 132 lines of names).
NOT_CMQ = frozenset(
    """
    AcknowledgeMessage CreateEnvironment CreateEnvironmentRole CreateProCluster
    CreateRabbitMQBinding CreateRabbitMQUser CreateRabbitMQVipInstance CreateRabbitMQVirtualHost
    CreateRocketMQCluster CreateRocketMQEnvironmentRole CreateRocketMQGroup CreateRocketMQGroupV2
    CreateRocketMQMigrationTask CreateRocketMQNamespace CreateRocketMQRole CreateRocketMQRouterRule
    CreateRocketMQTopic CreateRocketMQTopicV2 CreateRocketMQVipInstance CreateRole
    CreateSubscription CreateTopic DeleteCluster DeleteEnvironmentRoles DeleteEnvironments
    DeleteProCluster DeleteRabbitMQBinding DeleteRabbitMQPermission DeleteRabbitMQUser
    DeleteRabbitMQVipInstance DeleteRabbitMQVirtualHost DeleteRocketMQCluster
    DeleteRocketMQEnvironmentRoles DeleteRocketMQGroup DeleteRocketMQNamespace DeleteRocketMQRoles
    DeleteRocketMQTopic DeleteRocketMQVipInstance DeleteRoles DeleteSubscriptions DeleteTopics
    DescribeAMQPClusters DescribeAllTenants DescribeBindClusters DescribeBindVpcs
    DescribeClusterDetail DescribeClusters DescribeEnvironmentAttributes DescribeEnvironmentRoles
    DescribeEnvironments DescribeMqMsgTrace DescribeMsg DescribeMsgTrace DescribeNamespaceBundlesOpt
    DescribeNodeHealthOpt DescribePublisherSummary DescribePublishers
    DescribePulsarProInstanceDetail DescribePulsarProInstances DescribeRabbitMQBindings
    DescribeRabbitMQExchanges DescribeRabbitMQNodeList DescribeRabbitMQPermission
    DescribeRabbitMQQueueDetail DescribeRabbitMQQueues DescribeRabbitMQUser
    DescribeRabbitMQVipInstance DescribeRabbitMQVipInstances DescribeRabbitMQVirtualHost
    DescribeRocketMQCluster DescribeRocketMQClusters DescribeRocketMQConsumeStats
    DescribeRocketMQConsumerConnectionDetail DescribeRocketMQConsumerConnections
    DescribeRocketMQEnvironmentRoles DescribeRocketMQGeneralSKUs DescribeRocketMQGroups
    DescribeRocketMQMigratingTopicList DescribeRocketMQMsg DescribeRocketMQMsgTrace
    DescribeRocketMQNamespaces DescribeRocketMQProducers DescribeRocketMQPublicAccessMonitorData
    DescribeRocketMQPublicAccessPoint DescribeRocketMQRoles DescribeRocketMQSmoothMigrationTask
    DescribeRocketMQSubscriptions DescribeRocketMQTopUsages DescribeRocketMQTopic
    DescribeRocketMQTopicMsgs DescribeRocketMQTopicStats DescribeRocketMQTopics
    DescribeRocketMQTopicsByGroup DescribeRocketMQVipInstanceDetail DescribeRocketMQVipInstances
    DescribeRoles DescribeSubscriptions DescribeTopicMsgs DescribeTopics ExecuteDisasterRecovery
    ExportRocketMQMessageDetail GetTopicList ImportRocketMQConsumerGroups ImportRocketMQTopics
    ModifyCluster ModifyEnvironmentAttributes ModifyEnvironmentRole
    ModifyPublicNetworkSecurityPolicy ModifyRabbitMQPermission ModifyRabbitMQUser
    ModifyRabbitMQVipInstance ModifyRabbitMQVirtualHost ModifyRocketMQCluster
    ModifyRocketMQEnvironmentRole ModifyRocketMQGroup ModifyRocketMQInstance
    ModifyRocketMQInstanceSpec ModifyRocketMQNamespace ModifyRocketMQRole ModifyRocketMQTopic
    ModifyRole ModifyTopic ReceiveMessage ResetMsgSubOffsetByTimestamp ResetRocketMQConsumerOffSet
    RetryRocketMQDlqMessage SendBatchMessages SendMessages SendMsg SendRocketMQMessage
    SetRocketMQPublicAccessPoint VerifyRocketMQConsume
    """.split()  # noqa: SIM905
)

KNOWN = CMQ | NOT_CMQ


def not_offered(name: str) -> str:
    return (
        f"The action `{name}` is not offered by batchd: it serves the CMQ actions of the TDMQ API "
        "(CreateCmqQueue, SendCmqMsg, …), not Pulsar, RocketMQ or RabbitMQ clusters"
    )

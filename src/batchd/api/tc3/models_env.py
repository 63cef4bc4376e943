"""Compute-environment request models: EnvData with its CLOUD parts, and the env actions (§2, §3).

Many fields are named like their type (`SystemDisk: SystemDisk`, `Tags: Tags`); a bare name in
such an annotation would resolve to the field's own default, so types in annotations are always
written module-qualified (`env.SystemDisk`, `common.Tags`, `rules.EnvId`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import model_validator

from batchd.api.tc3 import models_common as common
from batchd.api.tc3 import models_env as env
from batchd.api.tc3 import rules
from batchd.api.tc3.rules import Wire, between, items_max, items_min, refuse, text_max

COMBINATION = "InvalidParameter.InvalidParameterCombination"

EnvName = Annotated[str, text_max(60, "InvalidParameter.EnvNameTooLong")]
EnvDescription = Annotated[str, text_max(200, "InvalidParameter.EnvDescriptionTooLong")]
DesiredCount = Annotated[int, between(0, 2000)]
InstanceTypes = Annotated[
    list[str],
    items_min(1, "InvalidParameterValue.InstanceTypesEmpty"),
    items_max(10),
    rules.distinct("InvalidParameterValue.InstanceTypeDuplicate"),
]
ChargeType = Annotated[
    str,
    rules.choice(
        ("POSTPAID_BY_HOUR", "SPOTPAID"), "InvalidParameterValue.UnsupportedBatchInstanceChargeType"
    ),
]

# --- CLOUD structures of EnvData: accepted, shape-checked, stored, echoed -------------------


class SystemDisk(Wire):
    DiskType: str | None = None
    DiskId: str | None = None
    DiskSize: int | None = None
    CdcId: str | None = None
    DiskName: str | None = None
    Encrypt: bool | None = None
    KmsKeyId: str | None = None


class DataDisk(Wire):
    DiskSize: int
    DiskType: str | None = None
    DiskId: str | None = None
    DeleteWithInstance: bool | None = None
    SnapshotId: str | None = None
    Encrypt: bool | None = None
    KmsKeyId: str | None = None
    ThroughputPerformance: int | None = None
    CdcId: str | None = None
    BurstPerformance: bool | None = None
    DiskName: str | None = None


class VirtualPrivateCloud(Wire):
    VpcId: str
    SubnetId: str
    AsVpcGateway: bool | None = None
    PrivateIpAddresses: list[str] | None = None
    Ipv6AddressCount: rules.UInt | None = None


class InternetAccessible(Wire):
    InternetChargeType: str | None = None
    InternetMaxBandwidthOut: int | None = None
    PublicIpAssigned: bool | None = None
    BandwidthPackageId: str | None = None
    InternetServiceProvider: str | None = None
    IPv4AddressType: str | None = None
    IPv6AddressType: str | None = None
    AntiDDoSPackageId: str | None = None


class RunSecurityServiceEnabled(Wire):
    Enabled: bool | None = None


class RunMonitorServiceEnabled(Wire):
    Enabled: bool | None = None


class RunAutomationServiceEnabled(Wire):
    Enabled: bool | None = None


class EnhancedService(Wire):
    SecurityService: env.RunSecurityServiceEnabled | None = None
    MonitorService: env.RunMonitorServiceEnabled | None = None
    AutomationService: env.RunAutomationServiceEnabled | None = None


class SpotMarketOptions(Wire):
    MaxPrice: str
    SpotInstanceType: str | None = None


class InstanceMarketOptionsRequest(Wire):
    SpotOptions: env.SpotMarketOptions
    MarketType: str | None = None


class InstanceTypeOptions(Wire):
    """Node size given directly: CPU cores and Memory GiB."""

    CPU: rules.UInt
    Memory: rules.UInt
    InstanceCategories: list[str] | None = None


# --- environments ----------------------------------------------------------------------------


class EnvData(Wire):
    """All CLOUD except the sizing: at most one of InstanceType, InstanceTypes,
    InstanceTypeOptions."""

    InstanceType: str | None = None
    ImageId: str | None = None
    SystemDisk: env.SystemDisk | None = None
    DataDisks: list[env.DataDisk] | None = None
    VirtualPrivateCloud: env.VirtualPrivateCloud | None = None
    InternetAccessible: env.InternetAccessible | None = None
    InstanceName: str | None = None
    LoginSettings: common.LoginSettings | None = None
    SecurityGroupIds: list[str] | None = None
    EnhancedService: env.EnhancedService | None = None
    InstanceChargeType: env.ChargeType | None = None
    InstanceMarketOptions: env.InstanceMarketOptionsRequest | None = None
    InstanceTypes: env.InstanceTypes | None = None
    InstanceTypeOptions: env.InstanceTypeOptions | None = None
    Zones: list[str] | None = None
    VirtualPrivateClouds: list[env.VirtualPrivateCloud] | None = None

    @model_validator(mode="after")
    def _one_sizing(self) -> EnvData:
        rules.exclusive(self, ("InstanceType", "InstanceTypes", "InstanceTypeOptions"), COMBINATION)
        return self


class AnonymousComputeEnv(Wire):
    """The per-task environment of `Task.ComputeEnv`."""

    EnvType: str | None = None
    EnvData: env.EnvData | None = None
    MountDataDisks: list[common.MountDataDisk] | None = None
    AgentRunningMode: common.AgentRunningMode | None = None


class NamedComputeEnv(Wire):
    EnvName: env.EnvName
    DesiredComputeNodeCount: env.DesiredCount
    EnvDescription: env.EnvDescription | None = None
    EnvType: str | None = None
    EnvData: env.EnvData | None = None
    MountDataDisks: list[common.MountDataDisk] | None = None
    Authentications: list[common.Authentication] | None = None
    InputMappings: list[common.InputMapping] | None = None
    AgentRunningMode: common.AgentRunningMode | None = None
    Notifications: list[common.Notification] | None = None
    ActionIfComputeNodeInactive: Literal["RECREATE"] | None = None
    ResourceMaxRetryCount: Annotated[int, between(0, 100)] | None = None
    Tags: common.Tags | None = None
    NotificationTarget: common.NotificationTarget | None = None

    _legacy = model_validator(mode="before")(common.legacy_notifications)


class ComputeEnvData(Wire):
    InstanceTypes: env.InstanceTypes


class Instance(Wire):
    """An instance to attach; batchd reads `InstanceId` as an external worker's id or name."""

    InstanceId: str
    ImageId: str | None = None
    LoginSettings: common.LoginSettings | None = None


# --- actions -------------------------------------------------------------------------------

EnvIds = Annotated[list[rules.EnvId], items_max(100)]
ENV_FILTERS = ("zone", "env-id", "env-name")


class CreateComputeEnvRequest(Wire):
    ComputeEnv: env.NamedComputeEnv
    Placement: common.Placement
    ClientToken: rules.ClientToken | None = None


class DescribeComputeEnvRequest(Wire):
    EnvId: rules.EnvId


class DescribeComputeEnvsRequest(Wire):
    EnvIds: env.EnvIds | None = None
    Filters: (
        Annotated[
            list[common.Filter],
            common.filter_names((*ENV_FILTERS, "resource-type", "tag-key", "tag-value"), tags=True),
        ]
        | None
    ) = None
    Offset: rules.UInt | None = None
    Limit: Annotated[rules.UInt, between(0, 100)] | None = None

    @model_validator(mode="after")
    def _ids_or_filters(self) -> DescribeComputeEnvsRequest:
        rules.exclusive(self, ("EnvIds", "Filters"), COMBINATION)
        return self


class DescribeComputeEnvCreateInfoRequest(Wire):
    EnvId: rules.EnvId


class DescribeComputeEnvCreateInfosRequest(Wire):
    EnvIds: env.EnvIds | None = None
    Filters: Annotated[list[common.Filter], common.filter_names(ENV_FILTERS)] | None = None
    Offset: rules.UInt | None = None
    Limit: Annotated[rules.UInt, between(0, 100)] | None = None

    @model_validator(mode="after")
    def _ids_or_filters(self) -> DescribeComputeEnvCreateInfosRequest:
        rules.exclusive(self, ("EnvIds", "Filters"), COMBINATION)
        return self


class ModifyComputeEnvRequest(Wire):
    EnvId: rules.EnvId
    DesiredComputeNodeCount: env.DesiredCount | None = None
    EnvName: env.EnvName | None = None
    EnvDescription: env.EnvDescription | None = None
    EnvData: env.ComputeEnvData | None = None


class DeleteComputeEnvRequest(Wire):
    EnvId: rules.EnvId


class DescribeComputeEnvActivitiesRequest(Wire):
    EnvId: rules.EnvId
    Offset: rules.Offset | None = None
    Limit: Annotated[int, between(0, 100)] | None = None
    # A single Filter object here, not a list (batch-api.md §2).
    Filters: Annotated[common.Filter, common.filter_names(("compute-node-id",))] | None = None


class TerminateComputeNodeRequest(Wire):
    EnvId: rules.EnvId
    ComputeNodeId: rules.ComputeNodeId


class TerminateComputeNodesRequest(Wire):
    EnvId: rules.EnvId
    ComputeNodeIds: Annotated[
        list[rules.ComputeNodeId], items_min(1), items_max(100), rules.distinct()
    ]


class AttachInstancesRequest(Wire):
    EnvId: rules.EnvId
    Instances: Annotated[list[env.Instance], items_min(1), items_max(100)]

    @model_validator(mode="after")
    def _no_duplicates(self) -> AttachInstancesRequest:
        seen: set[str] = set()
        for instance in self.Instances:
            if instance.InstanceId in seen:
                raise refuse(
                    "InvalidParameterValue.InstanceIdDuplicated",
                    f"`{{at}}Instances` lists {instance.InstanceId!r} more than once",
                )
            seen.add(instance.InstanceId)
        return self


class DetachInstancesRequest(Wire):
    EnvId: rules.EnvId
    InstanceIds: Annotated[
        list[str],
        items_min(1),
        items_max(100),
        rules.distinct("InvalidParameterValue.InstanceIdDuplicated"),
    ]

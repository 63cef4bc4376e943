"""Request objects that use every field the SDK can send (valid under batchd's rules)."""

from __future__ import annotations

from typing import Any

RICH_SUBMIT_JOB: dict[str, Any] = {
    "Placement": {
        "Zone": "ap-guangzhou-2",
        "ProjectId": 0,
        "HostIds": ["host-1"],
        "HostId": "host-1",
        "DedicatedResourcePackTenancy": "Exclusive",
        "DedicatedResourcePackIds": ["drp-1"],
        "RackId": "rack-1",
    },
    "ClientToken": "token-1",
    "Job": {
        "JobName": "rich",
        "JobDescription": "作业 with every field ✓ & = +",
        "Priority": 7,
        "TaskExecutionDependOn": "PRE_TASK_FINISHED",
        "StateIfCreateCvmFailed": "RUNNABLE",
        "NotificationTarget": "TDMQ_CMQ",
        "Tags": [{"Key": "team", "Value": "a"}, {"Key": "cost", "Value": "b"}],
        "Dependences": [{"StartTask": "first", "EndTask": "second"}],
        "Notifications": [
            {
                "TopicName": "job-events",
                "EventConfigs": [
                    {"EventName": "JOB_FAILED", "EventVars": [{"Name": "n", "Value": "v"}]},
                    {"EventName": "TASK_INSTANCE_RUNNING"},
                ],
            }
        ],
        "Tasks": [
            {
                "TaskName": "first",
                "TaskInstanceNum": 2,
                "EnvId": "env-abcdefgh",
                "Application": {
                    "DeliveryForm": "PACKAGE",
                    "PackagePath": "file:///tmp/package.tgz",
                    "Command": "sh run.sh 'a b'",
                    "Docker": {
                        "Image": "busybox:1",
                        "User": "user",
                        "Password": "secret",
                        "Server": "registry.example",
                        "MaxRetryCount": 1,
                        "DelayOnRetry": 2,
                        "DockerRunOption": "--rm",
                    },
                },
                "RedirectInfo": {
                    "StdoutRedirectPath": "file:///tmp/out/",
                    "StderrRedirectPath": "file:///tmp/err/",
                    "StdoutRedirectFileName": "stdout.${BATCH_TASK_INSTANCE_INDEX}.log",
                    "StderrRedirectFileName": "stderr.${BATCH_TASK_INSTANCE_INDEX}.log",
                },
                "RedirectLocalInfo": {
                    "StdoutLocalPath": "/tmp/out",
                    "StderrLocalPath": "/tmp/err",
                    "StdoutLocalFileName": "o.log",
                    "StderrLocalFileName": "e.log",
                },
                "InputMappings": [
                    {
                        "SourcePath": "file:///tmp/in",
                        "DestinationPath": "/work/in",
                        "MountOptionParameter": "-o ro",
                        "MountType": "COSFS",
                    }
                ],
                "OutputMappings": [
                    {
                        "SourcePath": "out",
                        "DestinationPath": "file:///tmp/results/",
                        "OutputMappingOption": {"Workspace": "GLOBAL_WORKSPACE"},
                    }
                ],
                "OutputMappingConfigs": [{"Scene": "COS", "WorkerNum": 2, "WorkerPartSize": 8}],
                "EnvVars": [{"Name": "GREETING", "Value": "hello world&x=1"}],
                "Authentications": [{"Scene": "COS", "SecretId": "sid", "SecretKey": "skey"}],
                "FailedAction": "INTERRUPT",
                "MaxRetryCount": 3,
                "Timeout": 600,
                "MaxConcurrentNum": 4,
                "RestartComputeNode": True,
                "ResourceMaxRetryCount": 5,
            },
            {
                "TaskName": "second",
                "Application": {
                    "DeliveryForm": "LOCAL",
                    "Commands": [{"Command": "echo 1"}, {"Command": "echo 2"}],
                },
                "ComputeEnv": {
                    "EnvType": "MANAGED",
                    "EnvData": {
                        "InstanceTypeOptions": {
                            "CPU": 2,
                            "Memory": 4,
                            "InstanceCategories": ["STANDARD"],
                        },
                        "ImageId": "img-abcdefgh",
                    },
                    "MountDataDisks": [{"LocalPath": "/data", "FileSystemType": "EXT4"}],
                    "AgentRunningMode": {"Scene": "WINDOWS", "User": "admin", "Session": "0"},
                },
                "RestartComputeNode": False,
                "FailedAction": "FAST_INTERRUPT",
            },
        ],
    },
}

RICH_ENV_DATA: dict[str, Any] = {
    "InstanceType": "S5.MEDIUM4",
    "ImageId": "img-abcdefgh",
    "SystemDisk": {
        "DiskType": "CLOUD_SSD",
        "DiskId": "disk-1",
        "DiskSize": 50,
        "CdcId": "cdc-1",
        "DiskName": "system",
        "Encrypt": False,
        "KmsKeyId": "kms-1",
    },
    "DataDisks": [
        {
            "DiskSize": 100,
            "DiskType": "CLOUD_PREMIUM",
            "DiskId": "disk-2",
            "DeleteWithInstance": True,
            "SnapshotId": "snap-1",
            "Encrypt": True,
            "KmsKeyId": "kms-2",
            "ThroughputPerformance": 0,
            "CdcId": "cdc-1",
            "BurstPerformance": False,
            "DiskName": "data",
        }
    ],
    "VirtualPrivateCloud": {
        "VpcId": "vpc-1",
        "SubnetId": "subnet-1",
        "AsVpcGateway": False,
        "PrivateIpAddresses": ["10.0.0.2"],
        "Ipv6AddressCount": 1,
    },
    "InternetAccessible": {
        "InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR",
        "InternetMaxBandwidthOut": 10,
        "PublicIpAssigned": True,
        "BandwidthPackageId": "bwp-1",
        "InternetServiceProvider": "BGP",
        "IPv4AddressType": "WanIP",
        "IPv6AddressType": "EIPv6",
        "AntiDDoSPackageId": "bgp-1",
    },
    "InstanceName": "node",
    "LoginSettings": {"Password": "pw", "KeyIds": ["skey-1"], "KeepImageLogin": "FALSE"},
    "SecurityGroupIds": ["sg-1"],
    "EnhancedService": {
        "SecurityService": {"Enabled": True},
        "MonitorService": {"Enabled": False},
        "AutomationService": {"Enabled": True},
    },
    "InstanceChargeType": "SPOTPAID",
    "InstanceMarketOptions": {
        "SpotOptions": {"MaxPrice": "1.5", "SpotInstanceType": "one-time"},
        "MarketType": "spot",
    },
    "Zones": ["ap-guangzhou-2", "ap-guangzhou-3"],
    "VirtualPrivateClouds": [{"VpcId": "vpc-2", "SubnetId": "subnet-2"}],
}

RICH_CREATE_COMPUTE_ENV: dict[str, Any] = {
    "Placement": {"Zone": "ap-guangzhou-2"},
    "ClientToken": "env-token",
    "ComputeEnv": {
        "EnvName": "pool",
        "DesiredComputeNodeCount": 3,
        "EnvDescription": "a pool",
        "EnvType": "MANAGED",
        "EnvData": RICH_ENV_DATA,
        "MountDataDisks": [{"LocalPath": "/data", "FileSystemType": "EXT3"}],
        "Authentications": [{"Scene": "COS", "SecretId": "sid", "SecretKey": "skey"}],
        "InputMappings": [{"SourcePath": "file:///shared", "DestinationPath": "/shared"}],
        "AgentRunningMode": {"Scene": "WINDOWS", "User": "admin", "Session": "1"},
        "Notifications": [
            {
                "TopicName": "env-events",
                "EventConfigs": [
                    {
                        "EventName": "COMPUTE_NODE_RUNNING",
                        "EventVars": [{"Name": "a", "Value": "b"}],
                    }
                ],
            }
        ],
        "ActionIfComputeNodeInactive": "RECREATE",
        "ResourceMaxRetryCount": 7,
        "Tags": [{"Key": "k", "Value": "v"}],
        "NotificationTarget": "CMQ",
    },
}

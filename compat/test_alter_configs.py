"""Changing a topic's configs with each client's admin API: confluent-kafka's
incremental_alter_configs and kafka-python's alter_configs (IncrementalAlterConfigs,
which kafka-python picks when the broker serves it), aiokafka's alter_configs
(AlterConfigs), read back with DescribeConfigs; a bad value is refused with
INVALID_CONFIG. (AlterConfigs replacing the whole set is checked over the raw
protocol in the broker's tests.)"""

from __future__ import annotations

import asyncio

import pytest

from helpers import create_topic, require_apis

INVALID_CONFIG = 40


def overrides(addr: str, topic: str) -> dict[str, str]:
    """The topic's own configs (source: the topic), through confluent-kafka."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource

    admin = AdminClient({"bootstrap.servers": addr})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=20)
    return {
        name: e.value
        for name, e in entries.items()
        if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    }


def test_confluent_kafka_incremental_alter_configs(weir):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    require_apis(weir.addr, "IncrementalAlterConfigs")
    create_topic(weir.addr, "tuned", 1, {"retention.ms": "60000"})
    admin = AdminClient({"bootstrap.servers": weir.addr})

    def alter(*entries):
        resource = ConfigResource(ConfigResource.Type.TOPIC, "tuned", incremental_configs=list(entries))
        return admin.incremental_alter_configs([resource])[resource]

    alter(
        ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ).result(timeout=20)
    assert overrides(weir.addr, "tuned") == {"retention.bytes": "1048576"}
    with pytest.raises(KafkaException) as e:
        alter(ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)).result(timeout=20)
    assert e.value.args[0].code() == INVALID_CONFIG
    assert overrides(weir.addr, "tuned") == {"retention.bytes": "1048576"}


def test_kafka_python_alter_configs_sets_and_deletes(weir):
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    create_topic(weir.addr, "replaced", 1, {"retention.ms": "60000"})
    admin = KafkaAdminClient(bootstrap_servers=weir.addr)
    try:
        changes = {"segment.bytes": "1048576", "retention.ms": ("DELETE", None)}
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "replaced", configs=changes)])
    finally:
        admin.close()
    assert overrides(weir.addr, "replaced") == {"segment.bytes": "1048576"}


def test_aiokafka_alter_configs(weir):
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    create_topic(weir.addr, "async-tuned", 1)

    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=weir.addr)
        await admin.start()
        try:
            resource = ConfigResource(ConfigResourceType.TOPIC, "async-tuned", configs={"retention.ms": "120000"})
            return await admin.alter_configs([resource])
        finally:
            await admin.close()

    asyncio.run(run())
    assert overrides(weir.addr, "async-tuned") == {"retention.ms": "120000"}

"""Changing a topic's configs with each client's admin API: confluent-kafka's
incremental_alter_configs and kafka-python's alter_configs (IncrementalAlterConfigs,
which kafka-python picks when the broker serves it), aiokafka's alter_configs
(AlterConfigs), read back with DescribeConfigs; a bad value is refused with
INVALID_CONFIG. The broker's configs too: changed at run time and kept across a
restart (confluent-kafka), described with their types and read-only flags
(kafka-python). (AlterConfigs replacing the whole set is checked over the raw
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


def test_confluent_kafka_broker_configs_change_at_run_time_and_hold_across_a_restart(weir):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ConfigSource,
    )

    create_topic(weir.addr, "follows", 1)

    def broker_entries(addr):
        admin = AdminClient({"bootstrap.servers": addr})
        resource = ConfigResource(ConfigResource.Type.BROKER, "0")
        return admin.describe_configs([resource])[resource].result(timeout=20)

    def alter(name, value):
        admin = AdminClient({"bootstrap.servers": weir.addr})
        entry = ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
        resource = ConfigResource(ConfigResource.Type.BROKER, "0", incremental_configs=[entry])
        return admin.incremental_alter_configs([resource])[resource].result(timeout=20)

    alter("log.retention.ms", "3600000")
    entries = broker_entries(weir.addr)
    retention = entries["log.retention.ms"]
    assert retention.value == "3600000"
    assert retention.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert entries["broker.id"].is_read_only and entries["broker.id"].value == "0"
    # A topic without its own retention.ms runs under the broker's.
    admin = AdminClient({"bootstrap.servers": weir.addr})
    topic = ConfigResource(ConfigResource.Type.TOPIC, "follows")
    topic_entry = admin.describe_configs([topic])[topic].result(timeout=20)["retention.ms"]
    assert (topic_entry.value, topic_entry.source) == ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)

    with pytest.raises(KafkaException) as e:
        alter("num.partitions", "3")
    assert e.value.args[0].code() == INVALID_CONFIG
    assert "read-only" in e.value.args[0].str()

    weir.restart()
    assert broker_entries(weir.addr)["log.retention.ms"].value == "3600000"


def test_kafka_python_describes_config_types_and_broker_configs(weir):
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    create_topic(weir.addr, "typed", 1, {"retention.ms": "60000"})
    admin = KafkaAdminClient(bootstrap_servers=weir.addr)
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "typed"), ConfigResource(ConfigResourceType.BROKER, "0")],
            include_synonyms=True,
            config_filter="all",
        )
    finally:
        admin.close()
    topic, broker = described["topic"]["typed"], described["broker"]["0"]
    assert topic["retention.ms"]["value"] == "60000"
    assert topic["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    types = {name: config["config_type"] for name, config in topic.items()}
    assert types["retention.ms"] == "LONG"
    assert types["max.message.bytes"] == "INT"
    assert types["cleanup.policy"] == "LIST"
    assert types["compression.type"] == "STRING"
    synonyms = [(s["name"], s["source"]) for s in topic["retention.ms"]["synonyms"]]
    assert synonyms == [("retention.ms", "DYNAMIC_TOPIC_CONFIG"), ("log.retention.ms", "DEFAULT_CONFIG")]
    assert broker["broker.id"]["read_only"] is True
    assert broker["log.retention.ms"]["value"] == "604800000"
    assert broker["log.retention.ms"]["read_only"] is False

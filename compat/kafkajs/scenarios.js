// KafkaJS against weir serve, one scenario per run:
//   node scenarios.js SCENARIO HOST:PORT [ARG]
// Each scenario asserts what it checks (node:assert) and prints one JSON line
// with what it saw; it exits non-zero on a failed check. compat/test_kafkajs.py
// runs them against a fresh broker and checks the JSON.
"use strict";

const assert = require("node:assert/strict");
const { Kafka, logLevel, CompressionTypes, CompressionCodecs, ConfigResourceTypes } =
  require("kafkajs");
CompressionCodecs[CompressionTypes.Snappy] = require("kafkajs-snappy");

const [scenario, broker, arg] = process.argv.slice(2);
const kafka = new Kafka({
  clientId: `compat-${scenario}`,
  brokers: [broker],
  logLevel: logLevel.NOTHING,
  retry: { retries: 5 },
});

/** Consumes `topic` from the beginning until `count` records arrived (bounded). */
async function consumeAll(topic, count, groupId) {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      seen.push({ partition, key: message.key && message.key.toString(),
                  value: message.value && message.value.toString(), offset: message.offset });
      if (seen.length >= count) done();
    },
  });
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`only ${seen.length} of ${count} records`)), 60000));
  await Promise.race([finished, timeout]);
  await consumer.disconnect();
  return seen;
}

const scenarios = {
  // Every admin call Weir serves, and the refusals Kafka gives.
  async admin() {
    const admin = kafka.admin();
    await admin.connect();
    const created = await admin.createTopics({
      topics: [{ topic: "js-admin", numPartitions: 2, configEntries: [{ name: "retention.ms", value: "600000" }] }],
      waitForLeaders: true,
    });
    assert.equal(created, true);
    const again = await admin.createTopics({ topics: [{ topic: "js-admin", numPartitions: 2 }] });
    assert.equal(again, false, "an existing topic is not created again");
    const metadata = await admin.fetchTopicMetadata({ topics: ["js-admin"] });
    assert.equal(metadata.topics[0].partitions.length, 2);
    const cluster = await admin.describeCluster();
    assert.equal(cluster.brokers.length, 1);
    assert.equal(cluster.controller, cluster.brokers[0].nodeId);

    const resource = { type: ConfigResourceTypes.TOPIC, name: "js-admin" };
    await admin.alterConfigs({ validateOnly: false,
      resources: [{ ...resource, configEntries: [{ name: "retention.bytes", value: "1048576" }] }] });
    const described = await admin.describeConfigs({ resources: [resource], includeSynonyms: false });
    const entries = Object.fromEntries(
      described.resources[0].configEntries.map((e) => [e.configName, e.configValue]));
    assert.equal(entries["retention.bytes"], "1048576");
    assert.notEqual(entries["retention.ms"], "600000", "AlterConfigs replaced the set");

    // The broker's configs: described with the node's settings read-only, and a
    // broker-wide default changed at run time.
    const brokerResource = { type: ConfigResourceTypes.BROKER, name: "0" };
    await admin.alterConfigs({ validateOnly: false,
      resources: [{ ...brokerResource, configEntries: [{ name: "log.retention.ms", value: "7200000" }] }] });
    const brokerConfigs = await admin.describeConfigs({ resources: [brokerResource], includeSynonyms: false });
    const brokerEntries = Object.fromEntries(
      brokerConfigs.resources[0].configEntries.map((e) => [e.configName, e]));
    assert.equal(brokerEntries["log.retention.ms"].configValue, "7200000");
    assert.equal(brokerEntries["broker.id"].readOnly, true);

    // Partitions are added, never removed (INVALID_PARTITIONS, 37).
    await admin.createPartitions({ topicPartitions: [{ topic: "js-admin", count: 3 }] });
    const grown = await admin.fetchTopicMetadata({ topics: ["js-admin"] });
    assert.equal(grown.topics[0].partitions.length, 3);
    await assert.rejects(admin.createPartitions({ topicPartitions: [{ topic: "js-admin", count: 2 }] }),
      (e) => JSON.stringify(e).includes("INVALID_PARTITIONS") || /partitions/i.test(e.message));

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "js-admin",
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, partition: 0, timestamp: `${1_700_000_000_000 + i}` })) });
    await producer.disconnect();
    const byTime = await admin.fetchTopicOffsetsByTimestamp("js-admin", 1_700_000_000_005);
    assert.equal(byTime.find((o) => o.partition === 0).offset, "5");
    await admin.deleteTopicRecords({ topic: "js-admin", partitions: [{ partition: 0, offset: "4" }] });
    const offsets = await admin.fetchTopicOffsets("js-admin");
    const p0 = offsets.find((o) => o.partition === 0);
    assert.deepEqual([p0.low, p0.high], ["4", "10"]);

    await admin.setOffsets({ groupId: "js-group", topic: "js-admin", partitions: [{ partition: 0, offset: "6" }] });
    const fetched = await admin.fetchOffsets({ groupId: "js-group", topics: ["js-admin"] });
    assert.equal(fetched[0].partitions.find((p) => p.partition === 0).offset, "6");
    await admin.resetOffsets({ groupId: "js-group", topic: "js-admin", earliest: true });
    const groups = await admin.listGroups();
    assert.ok(groups.groups.some((g) => g.groupId === "js-group"));
    const groupsDescribed = await admin.describeGroups(["js-group"]);
    assert.equal(groupsDescribed.groups[0].groupId, "js-group");
    assert.equal(groupsDescribed.groups[0].state, "Empty");
    const deleted = await admin.deleteGroups(["js-group"]);
    assert.equal(deleted[0].errorCode, 0);
    // GROUP_ID_NOT_FOUND (69), reported per group.
    await assert.rejects(admin.deleteGroups(["never-was"]),
      (e) => e.groups && e.groups[0].errorCode === 69);
    await admin.deleteTopics({ topics: ["js-admin"] });
    const left = await admin.listTopics();
    assert.ok(!left.includes("js-admin"));
    await admin.disconnect();
    return { cluster: cluster.clusterId, p0 };
  },

  // Keyed records land on the key's partition (murmur2) and come back in order.
  async roundtrip() {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: "js-keys", numPartitions: 3 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const messages = Array.from({ length: 300 }, (_, i) => ({ key: `key-${i % 30}`, value: `value-${i}` }));
    await producer.send({ topic: "js-keys", messages });
    await producer.disconnect();
    const seen = await consumeAll("js-keys", 300, "js-roundtrip");
    const byKey = {};
    for (const r of seen) {
      byKey[r.key] = byKey[r.key] || { partition: r.partition, values: [] };
      assert.equal(byKey[r.key].partition, r.partition, `${r.key} on one partition`);
      byKey[r.key].values.push(r.value);
    }
    for (const [key, { values }] of Object.entries(byKey)) {
      const want = messages.filter((m) => m.key === key).map((m) => m.value);
      assert.deepEqual(values, want, `${key} in order`);
    }
    return { records: seen.length, partitions: Object.fromEntries(Object.entries(byKey).map(([k, v]) => [k, v.partition])) };
  },

  // An idempotent producer: each record written once.
  async idempotent() {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < 10; i++) {
      await producer.send({ topic: "js-idem",
        messages: Array.from({ length: 10 }, (_, j) => ({ value: `m${i * 10 + j}` })) });
    }
    await producer.disconnect();
    const seen = await consumeAll("js-idem", 100, "js-idem");
    assert.equal(new Set(seen.map((r) => r.value)).size, 100);
    return { records: seen.length };
  },

  // Two members share four partitions; every record is consumed once.
  async groups() {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: "js-shared", numPartitions: 4 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "js-shared",
      messages: Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
    const seen = new Map();
    const members = [];
    const assigned = [];
    for (let m = 0; m < 2; m++) {
      const consumer = kafka.consumer({ groupId: "js-shared-group", maxWaitTimeInMs: 100,
        sessionTimeout: 10000, heartbeatInterval: 500 });
      consumer.on(consumer.events.GROUP_JOIN, (e) => (assigned[m] = e.payload.memberAssignment));
      await consumer.connect();
      await consumer.subscribe({ topic: "js-shared", fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => {
        const v = message.value.toString();
        seen.set(v, (seen.get(v) || 0) + 1);
      } });
      members.push(consumer);
    }
    const deadline = Date.now() + 90000;
    while (Date.now() < deadline) {
      const both = assigned.length === 2 && assigned.every((a) => a && (a["js-shared"] || []).length > 0);
      if (both && seen.size >= 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await producer.disconnect();
    for (const c of members) await c.disconnect();
    const shares = assigned.map((a) => (a && a["js-shared"] || []).length);
    assert.deepEqual(shares.sort(), [2, 2], `assignments ${JSON.stringify(assigned)}`);
    assert.equal(seen.size, 200);
    return { shares, duplicates: [...seen.values()].filter((n) => n > 1).length };
  },

  // Commits what it consumed; after a restart of the broker (between the two
  // phases) the group goes on from there.
  async commit() {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "js-commits",
      messages: Array.from({ length: 20 }, (_, i) => ({ value: `c${i}`, partition: 0 })) });
    await producer.disconnect();
    const seen = await consumeAll("js-commits", 20, "js-commit-group");
    return { consumed: seen.length };
  },

  async resume() {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "js-commits",
      messages: Array.from({ length: 5 }, (_, i) => ({ value: `after${i}`, partition: 0 })) });
    await producer.disconnect();
    const seen = await consumeAll("js-commits", 5, "js-commit-group");
    assert.deepEqual(seen.map((r) => r.value), Array.from({ length: 5 }, (_, i) => `after${i}`));
    return { resumed: seen.length };
  },

  // Each codec the client speaks without native code round trips.
  async compression() {
    const producer = kafka.producer();
    await producer.connect();
    const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy };
    for (const [name, compression] of Object.entries(codecs)) {
      await producer.send({ topic: "js-codecs", compression,
        messages: Array.from({ length: 50 }, (_, i) => ({ key: name, value: `${name}-${i}`.repeat(20) })) });
    }
    await producer.disconnect();
    const seen = await consumeAll("js-codecs", 150, "js-codecs");
    for (const name of Object.keys(codecs)) {
      assert.equal(seen.filter((r) => r.key === name).length, 50, name);
    }
    return { records: seen.length };
  },
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
run(arg).then(
  (result) => { console.log(JSON.stringify(result)); process.exit(0); },
  (error) => { console.error(error && error.stack || error); process.exit(1); },
);

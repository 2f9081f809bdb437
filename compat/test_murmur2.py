"""The suite's own murmur2 must be Kafka's, or every partition assertion is moot."""

import random

import pytest

from partitioning import murmur2, partition_for


# Apache Kafka's UtilsTest.testMurmur2 vectors.
@pytest.mark.parametrize(
    "key,expected",
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_kafka_utils_test(key, expected):
    assert murmur2(key) == expected


def test_murmur2_matches_kafka_python_partitioner():
    from kafka.partitioner.default import murmur2 as kp_murmur2

    rng = random.Random(7)
    for _ in range(2000):
        key = rng.randbytes(rng.randrange(0, 40))
        # kafka-python returns the hash as an unsigned 32-bit int.
        assert murmur2(key) & 0xFFFFFFFF == kp_murmur2(key) & 0xFFFFFFFF, key
        assert 0 <= partition_for(key, 4) < 4

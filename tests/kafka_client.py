#!/usr/bin/env python3
"""The independent Kafka client of vigil's broker tests: kafka-python, a pure-Python
implementation of the protocol that shares no code with librdkafka (which vigil uses).

    kafka_client.py BROKER create TOPIC PARTITIONS [TOPIC PARTITIONS ...]
    kafka_client.py BROKER produce TOPIC FILE          # one record per line, round-robin over partitions
    kafka_client.py BROKER consume TOPIC [IDLE_SECS]   # every record as one JSON line on stdout
    kafka_client.py BROKER send TOPIC PARTITION FILE   # the whole file as one record (binary-safe)
    kafka_client.py BROKER committed GROUP TOPIC...    # the sum of the group's committed offsets
    kafka_client.py BROKER ends TOPIC                  # the sum of the topic's end offsets (records written)

`consume` reads (read_committed) from the beginning of every partition until no record has arrived for IDLE_SECS
(default 3), and prints {"partition", "offset", "key", "value", "headers"} per record (key and
value as UTF-8 text, headers as an object). Exit status 2 means kafka-python is missing.
"""

import json
import sys
import time

try:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
except ImportError:  # the test command installs it; say so loudly instead of a traceback
    sys.stderr.write("kafka-python is not installed: pip install kafka-python (bash scripts/test.sh does)\n")
    sys.exit(2)


def create(broker, pairs):
    admin = KafkaAdminClient(bootstrap_servers=broker, client_id="vigil-tests")
    topics = [NewTopic(name=pairs[i], num_partitions=int(pairs[i + 1]), replication_factor=1) for i in range(0, len(pairs), 2)]
    admin.create_topics(topics)
    admin.close()


def partitions_of(broker, topic):
    consumer = KafkaConsumer(bootstrap_servers=broker)
    deadline = time.time() + 20
    parts = consumer.partitions_for_topic(topic)
    while not parts and time.time() < deadline:
        time.sleep(0.2)
        parts = consumer.partitions_for_topic(topic)
    consumer.close()
    if not parts:
        raise SystemExit(f"topic {topic} has no partitions on {broker}")
    return sorted(parts)


def produce(broker, topic, path):
    parts = partitions_of(broker, topic)
    producer = KafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5, batch_size=256 * 1024)
    n = 0
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line:
                continue
            producer.send(topic, value=line, partition=parts[n % len(parts)])
            n += 1
    producer.flush()
    producer.close()
    print(n)


def send(broker, topic, partition, path):
    with open(path, "rb") as f:
        value = f.read()
    producer = KafkaProducer(bootstrap_servers=broker, acks="all", max_request_size=8 * 1024 * 1024)
    producer.send(topic, value=value, partition=int(partition)).get(timeout=30)
    producer.close()


def committed(broker, group, topics):
    consumer = KafkaConsumer(bootstrap_servers=broker, group_id=group, enable_auto_commit=False)
    total = 0
    for topic in topics:
        for p in partitions_of(broker, topic):
            offset = consumer.committed(TopicPartition(topic, p))
            total += offset or 0
    consumer.close()
    print(total)


def ends(broker, topic):
    consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
    offsets = consumer.end_offsets([TopicPartition(topic, p) for p in partitions_of(broker, topic)])
    consumer.close()
    print(sum(offsets.values()))


def consume(broker, topic, idle):
    parts = partitions_of(broker, topic)
    # read_committed, as every consumer of the incident topic should (DESIGN.md): with
    # transactional output it sees only committed records; without, every record.
    consumer = KafkaConsumer(
        bootstrap_servers=broker, enable_auto_commit=False, consumer_timeout_ms=int(idle * 1000), isolation_level="read_committed"
    )
    tps = [TopicPartition(topic, p) for p in parts]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    for msg in consumer:
        print(
            json.dumps(
                {
                    "partition": msg.partition,
                    "offset": msg.offset,
                    "key": msg.key.decode("utf-8", "replace") if msg.key is not None else None,
                    "value": msg.value.decode("utf-8", "replace") if msg.value is not None else None,
                    "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in (msg.headers or [])},
                }
            )
        )
    consumer.close()


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    broker, command, rest = argv[1], argv[2], argv[3:]
    if command == "create":
        create(broker, rest)
    elif command == "produce":
        produce(broker, rest[0], rest[1])
    elif command == "send":
        send(broker, rest[0], rest[1], rest[2])
    elif command == "committed":
        committed(broker, rest[0], rest[1:])
    elif command == "ends":
        ends(broker, rest[0])
    elif command == "consume":
        consume(broker, rest[0], float(rest[1]) if len(rest) > 1 else 3.0)
    else:
        raise SystemExit(f"unknown command {command!r}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)

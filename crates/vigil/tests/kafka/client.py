"""A second Kafka client for the Kafka tests (kafka-python, an implementation independent of
librdkafka): produces test messages and reads back what Vigil's destination produced.

    client.py produce BROKER TOPIC PREFIX FIRST COUNT   one syslog line per message, n=FIRST..
    client.py consume BROKER TOPIC WANT TIMEOUT_S       prints key<TAB>value per message, every
                                                         partition from its beginning, until
                                                         WANT messages and a second
                                                         without more, or the timeout
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def produce(broker, topic, prefix, first, count):
    p = KafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5)
    for n in range(first, first + count):
        # RFC 5424 without a timestamp: the receive time is the event time
        line = f"<13>1 - kafkahost app - - - {prefix} n={n}"
        p.send(topic, value=line.encode())
    p.flush(timeout=60)
    p.close()


def consume(broker, topic, want, timeout):
    deadline = time.time() + timeout
    c = KafkaConsumer(bootstrap_servers=broker, consumer_timeout_ms=1000)
    parts = None
    while not parts and time.time() < deadline:
        parts = c.partitions_for_topic(topic)
        if not parts:
            time.sleep(0.5)
            c.topics()
    if not parts:
        return
    c.assign([TopicPartition(topic, p) for p in sorted(parts)])
    c.seek_to_beginning()
    got = 0
    while time.time() < deadline:
        before = got
        for m in c:
            print(f"{(m.key or b'').decode()}\t{m.value.decode()}", flush=True)
            got += 1
        # idle for a second with all wanted seen: that is all there is
        if got == before and got >= want:
            break
    c.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif cmd == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(f"unknown command {cmd}")

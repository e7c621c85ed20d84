"""Every implementation has the whole interface it stands for: the Redis broker all of
`Broker`, the hub tests' in-process pub/sub all of `PubSub`."""

from __future__ import annotations

from server.broker.base import Broker, PubSub
from server.broker.redis import RedisBroker
from tests.support.pubsub import InProcessPubSub


def members(protocol: type) -> set[str]:
    """The names a protocol declares, its bases' included."""
    out: set[str] = set()
    for cls in protocol.__mro__:
        if cls is object or not getattr(cls, "_is_protocol", False) or cls.__name__ == "Protocol":
            continue
        out |= {name for name in vars(cls) if not name.startswith("_")}
    return out


def test_the_interfaces_declare_what_callers_use() -> None:
    assert members(PubSub) == {"healthy", "reconnects", "start", "subscribe", "unsubscribe",
                               "publish", "close"}
    assert members(Broker) == members(PubSub) | {"command", "commands"}


def test_the_redis_broker_implements_all_of_broker() -> None:
    assert members(Broker) <= set(dir(RedisBroker))


def test_the_in_process_pubsub_implements_all_of_pubsub() -> None:
    assert members(PubSub) <= set(dir(InProcessPubSub))

"""Kafka (kafka-python) exceptions → poison, transient or configuration.

kafka-python marks the errors a retry may fix with ``retriable = True``; the table adds the few
that are neither: a record too large for the broker (that record's fault) and the authorization
and authentication failures (ours).
"""

from __future__ import annotations

from kafka import errors as k

from ..errors import DependencyConfigError, PoisonMessage, TransientError
from ..redact import redact

SERVERS = "MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"
SASL = ("MAILPIPE_KAFKA__SECURITY_PROTOCOL", "MAILPIPE_KAFKA__SASL_MECHANISM", "MAILPIPE_KAFKA__SASL_USERNAME",
        "MAILPIPE_KAFKA__SASL_PASSWORD")
MAX_REQUEST = "MAILPIPE_KAFKA__MAX_REQUEST_BYTES"
REPLICATION = "MAILPIPE_KAFKA__TOPIC_REPLICATION_FACTOR"

POISON_TYPES: dict[type[BaseException], str] = {
    k.MessageSizeTooLargeError: "record_too_large",  # over max.request.size or the topic's limit
    k.RecordListTooLargeError: "record_too_large",
    k.InvalidRecordError: "record_refused",
}
CONFIG_TYPES: dict[type[BaseException], tuple[str, ...]] = {
    k.AuthorizationError: (SERVERS,),  # topic, group, cluster or transactional-id ACLs
    k.SaslAuthenticationFailedError: SASL,
    k.UnsupportedSaslMechanismError: SASL,
    k.IllegalSaslStateError: SASL,
    k.UnsupportedVersionError: (SERVERS,),
    k.IncompatibleBrokerVersion: (SERVERS,),
    k.InvalidTopicError: (SERVERS,),
    k.KafkaConfigurationError: (SERVERS, MAX_REQUEST),
    k.UnsupportedCodecError: (SERVERS,),
    # Refusals only topic administration (`mailpipe topics create`) meets: no retry fixes them,
    # the operator's settings or the contract in schemas/topics do.
    k.InvalidReplicationFactorError: (REPLICATION,),  # more replicas than brokers
    k.InvalidPartitionsError: (),  # a partition count the broker refuses
    k.InvalidConfigurationError: (),  # a topic config of schemas/topics
    k.PolicyViolationError: (),  # the cluster's create-topic policy
}


def translate(exc: BaseException) -> PoisonMessage | TransientError | DependencyConfigError | None:
    """The kind of a kafka-python exception, None for any other exception. Pure."""
    if not isinstance(exc, k.KafkaError):
        return None
    text = redact(str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}")
    for cls, reason in POISON_TYPES.items():
        if isinstance(exc, cls):
            return PoisonMessage(reason, f"{text} (raise {MAX_REQUEST} and the topic's max.message.bytes "
                                         "to accept it)")
    for cls, variables in CONFIG_TYPES.items():
        if isinstance(exc, cls):
            return DependencyConfigError("kafka", variables, text)
    # Retriable errors (broker away, leader moving, timeouts), a commit lost to a rebalance and
    # whatever else the client raises: the group replays from the last commit, nothing is lost.
    return TransientError(f"Kafka unavailable: {text}", dependency="kafka")

"""Parser settings: the limits against hostile input, the body cap and the S3 I/O of a batch
(``MAILPIPE_PARSE__*``)."""

from __future__ import annotations

from pydantic import Field

from ..common.settings import S3Settings, Section, ServiceSettings
from .batch import DEFAULT_IO, IOBounds
from .bodies import BODY_CAP_CHARS
from .limits import DEFAULT_LIMITS as D
from .limits import ParseLimits


class ParseSettings(Section):
    max_message_bytes: int = Field(D.max_message_bytes, gt=0, description="larger raw messages are dead-lettered")
    max_parts: int = Field(D.max_parts, gt=0, description="MIME parts per message")
    max_depth: int = Field(D.max_depth, gt=0, description="MIME nesting depth")
    max_decoded_bytes: int = Field(D.max_decoded_bytes, gt=0, description="decoded bytes of all parts together")
    max_seconds: float = Field(D.max_seconds, gt=0, description="time to parse one message")
    max_header_bytes: int = Field(D.max_header_bytes, gt=0, description="the message's header block")
    max_tnef_objects: int = Field(D.max_tnef_objects, gt=0, description="objects in one winmail.dat")
    body_cap_chars: int = Field(BODY_CAP_CHARS, gt=0, description="text/HTML kept in the record; the rest in S3")
    # at most botocore's connection pool (10 by default): more threads would only queue for it
    io_threads: int = Field(DEFAULT_IO.threads, ge=1, le=10,
                            description="threads doing a batch's claim-check GETs and object PUTs")
    io_max_bytes_in_flight: int = Field(DEFAULT_IO.max_bytes_in_flight, gt=0,
                                        description="claim-checked bytes fetched and not yet stored; "
                                                    "one larger message still goes, alone")

    def limits(self) -> ParseLimits:
        """The limits as the pure parser takes them."""
        return ParseLimits(max_message_bytes=self.max_message_bytes, max_parts=self.max_parts,
                           max_depth=self.max_depth, max_decoded_bytes=self.max_decoded_bytes,
                           max_seconds=self.max_seconds, max_header_bytes=self.max_header_bytes,
                           max_tnef_objects=self.max_tnef_objects)

    def io(self) -> IOBounds:
        """The bounds of a batch's S3 requests."""
        return IOBounds(threads=self.io_threads, max_bytes_in_flight=self.io_max_bytes_in_flight)


class ParserSettings(ServiceSettings):
    s3: S3Settings
    parse: ParseSettings = ParseSettings()

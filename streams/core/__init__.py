"""The pure core: no Kafka, no Redis, no clock reads. Time is always passed in.

The Faust agents and the replay command are thin shells around :func:`process_record`,
so a record gets the same verdict live and in replay.
"""
from streams.core.origin import Origin, Stream
from streams.core.pipeline import Verdict, process_record

__all__ = ["Origin", "Stream", "Verdict", "process_record"]

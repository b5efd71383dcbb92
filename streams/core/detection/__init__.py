"""Stateful detection per policy: unauthorized post-confirmation contact edits and commission holds.

Pure like the rest of the core: :class:`PolicyMachine` takes a state value, a verdict and
the streams' time, and returns the next state and the records to emit. The processor
(:mod:`streams.core.processor`) drives it for both shells.
"""
from streams.core.detection.config import DetectionConfig
from streams.core.detection.machine import Clock, PolicyMachine, Step, StreamTimes
from streams.core.detection.state import STATE_VERSION, PolicyState, StateVersionError

__all__ = [
    "STATE_VERSION", "Clock", "DetectionConfig", "PolicyMachine", "PolicyState", "StateVersionError", "Step",
    "StreamTimes",
]

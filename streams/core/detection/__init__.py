"""Stateful detection per policy: unauthorized post-confirmation contact edits and commission holds.

Pure like the rest of the core: :class:`PolicyMachine` takes a state value, a verdict and
the time, and returns the next state and the records to emit. The Faust agent keeps the
state in a changelogged table; replay keeps it in a dict.
"""
from streams.core.detection.config import DetectionConfig
from streams.core.detection.machine import PolicyMachine, Step
from streams.core.detection.state import PolicyState

__all__ = ["DetectionConfig", "PolicyMachine", "PolicyState", "Step"]

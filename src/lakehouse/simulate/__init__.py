"""Five deterministic, vectorised event simulators and their sinks."""

from lakehouse.results import SimulationReport
from lakehouse.simulate.runner import simulate, simulate_rate
from lakehouse.simulate.sinks import FileSink
from lakehouse.simulate.targets import open_sink

__all__ = ["FileSink", "SimulationReport", "open_sink", "simulate", "simulate_rate"]

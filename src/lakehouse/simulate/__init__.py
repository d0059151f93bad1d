"""Five deterministic, vectorised event simulators and their sinks."""

from lakehouse.results import SimulationReport
from lakehouse.simulate.runner import simulate, simulate_rate
from lakehouse.simulate.sinks import FileSink

__all__ = ["FileSink", "SimulationReport", "simulate", "simulate_rate"]

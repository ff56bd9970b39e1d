"""The simulator: SimPy control plane, data planes, faults, SLO accounting and results."""

from sim.compiled import Compiled, compile_topology
from sim.plane import DataPlane, Window
from sim.replicate import run
from sim.simulation import ENGINES, Controller, Simulation
from sim.state import CAUSES, PlaneState

__all__ = ["Simulation", "Controller", "ENGINES", "run", "DataPlane", "Window", "PlaneState", "CAUSES",
           "Compiled", "compile_topology"]

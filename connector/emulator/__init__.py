"""Local emulators of the source APIs for tests, the demo and the benchmark."""

from connector.emulator.faults import FaultPlan, FaultRule
from connector.emulator.server import EmulatorServer, serve_forever
from connector.emulator.traede import create_traede_app
from connector.emulator.traede_config import TraedeConfig
from connector.emulator.traede_state import TraedeState

__all__ = [
    "EmulatorServer",
    "FaultPlan",
    "FaultRule",
    "TraedeConfig",
    "TraedeState",
    "create_traede_app",
    "serve_forever",
]

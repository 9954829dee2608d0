"""Local emulators of the source APIs for tests, the demo and the benchmark.

Import what you need from its module (``connector.emulator.traede``, ``.server``, ``.faults``):
this package imports nothing itself, so ``connector --help`` does not pay for the ASGI stack.
"""

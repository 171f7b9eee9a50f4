"""This machine: what its CPU, GPUs and memory are (:mod:`advisor.machine.probe`, read from the
vendors' tools) and which device of the hardware table they are (:mod:`advisor.machine.detect`).

Only the command line uses it (``quant-advisor detect``, ``recommend --detect``): the service
and the engine answer for the hardware they are given, never for the machine they run on.
"""

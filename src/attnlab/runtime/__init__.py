"""Where and how attnlab computes: device, precision and CPU threads, decided once, by the machine.

    cpu_use.py    what other processes ran while a command started (/proc/stat); no torch here,
                  so a command can take its first sample before torch's import
    decision.py   `Runtime(device, dtype, threads, lines, warnings)` and `decide(...)`, the one
                  function every command, the web lab and `attnlab.train_run` call

This package's own import is light (nothing is imported here): `attnlab.runtime.cpu_use` loads
without torch.
"""

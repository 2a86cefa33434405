"""Sampling (`attnlab generate` and `attnlab next`, the web lab's Generate stream and Sample panel)
in the one lab shape: settings.py (GenerateSettings, NextSettings and the one check of temperature,
top-k and top-p they share; torch-free) and run.py (generate -> GenerateResult, next_tokens ->
NextResult, their reports). The numbers are attnlab.generate's."""

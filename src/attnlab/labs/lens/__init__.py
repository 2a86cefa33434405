"""The logit lens (`attnlab lens`, the web lab's Lens panel) in the one lab shape: settings.py
(LensSettings, torch-free) and run.py (run -> LensResult, report). The numbers are attnlab.why.lens's."""

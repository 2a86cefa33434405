"""Does attention explain? (`attnlab why`, the web lab's Why panel) in the one lab shape:
settings.py (WhySettings, torch-free), tokens.py (a token found by what it reads) and run.py
(run -> WhyResult, report). The numbers are attnlab.why.answers's."""

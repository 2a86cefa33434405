"""Direct logit attribution (`attnlab attribute`, the web lab's `/api/attribute`) in the one lab
shape: settings.py (AttributeSettings, torch-free) and run.py (run -> AttributeResult, report).
The numbers are attnlab.why.attribute's."""

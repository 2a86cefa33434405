"""Head ablation (`attnlab ablate`, the web lab's Ablate panel) in the one lab shape: settings.py
(AblateSettings, torch-free) and run.py (run -> AblateResult, report). The numbers are
attnlab.why.ablate's."""

"""Training: THE loop (`loop.py`), GPT training (`gpt.py`) and its data (`data.py`)."""

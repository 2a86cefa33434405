"""The run folder: its marker, lock and overwrite rules (`folder.py`), checkpoints (`checkpoint.py`) and
the metrics log (`metrics.py`); the one owner of the file names inside a run folder."""

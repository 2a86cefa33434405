"""The encoder-decoder lab (seed 002): tasks, training and the run logic."""

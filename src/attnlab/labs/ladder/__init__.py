"""The ablation ladder: the lecture's GPT built one part at a time (`rungs.py`) and its report."""

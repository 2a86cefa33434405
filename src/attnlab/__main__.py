"""`python -m attnlab ...` (also what `torchrun ... -m attnlab train` runs)."""

from attnlab.cli import entry_point

if __name__ == "__main__":
    entry_point()

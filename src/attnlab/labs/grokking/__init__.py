"""The grokking lab (Nanda et al. 2023): modular addition, the Fourier algorithm a one-layer
transformer finds, and the progress measures that see it coming."""

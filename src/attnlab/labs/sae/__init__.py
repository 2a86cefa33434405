"""Sparse autoencoders on a run's own activations (Bricken et al. 2023, "Towards Monosemanticity"):
`attnlab sae` trains one, `attnlab features` and the web lab's Features panel browse what it found."""

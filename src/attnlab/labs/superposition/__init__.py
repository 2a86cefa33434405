"""The superposition lab (Elhage et al. 2022, "Toy models of superposition"): a layer that stores
more sparse features than it has dimensions, at angles, and the measures that show how."""

"""One-shot (weight-sharing) search: one supernet holds every subnet of a space, subnets are
ranked by the weights they inherit from it, and the best are confirmed by ordinary trials.

``shareable`` (no torch) decides whether a space can share weights and describes the
supernet; ``supernet`` slices its tensors into any subnet; ``bn`` recalibrates a subnet's
BatchNorm statistics; ``sandwich`` trains the supernet; ``trainable`` runs that training as
one Ray Tune trial.
"""

"""Fitted predictors: features, the quality and speed models, their artifacts, training and
evaluation."""

"""Recipes: data, model config, training, metrics and plots for each ready task."""

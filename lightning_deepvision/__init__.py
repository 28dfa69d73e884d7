"""Lightning tasks, models and datasets for the deep vision models of the DeepID era."""

__version__ = "0.1.0"

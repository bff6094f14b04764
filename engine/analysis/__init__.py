"""What the model has learned and what to label next: acquisition and ranking, label issues, the
mixture's statistics, 2-D maps, saliency methods and probes. Numpy (and scikit-learn) over arrays
every backend produces."""

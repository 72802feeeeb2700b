"""Feature assembly and the learning-to-rank model."""

"""A generated music world, a choice and skip model, and the recommend-consume-retrain feedback loop."""

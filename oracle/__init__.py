"""The oracle: publishes models and policies, turns rounds of decisions into anchored batches."""

"""Detection: signals that turn a delivered track into findings and scores for the policy."""

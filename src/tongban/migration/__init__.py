"""One-stop cross-province migration: the saga between the destination and the origin."""

"""What an upload must look like: sheet and column names, per-sheet pandera models, cross-sheet rules."""

"""What an upload must look like: names, per-sheet pandera models, cross-sheet rules."""

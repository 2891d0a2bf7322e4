"""The base every layer may use: atomic file writes, the project's paths, and the compute device."""

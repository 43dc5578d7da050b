"""The embedded default: the whole control plane on one machine, offline."""

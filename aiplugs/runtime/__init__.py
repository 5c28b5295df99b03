"""The running system: converge carries out a plan through the adapters; the daemon owns it all."""

"""Pure functional twins of the metrics (tensor in, tensor out; no state, no loading)."""

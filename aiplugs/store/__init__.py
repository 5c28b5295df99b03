"""What survives a restart, in the state dir: state.json, tokens, locks."""

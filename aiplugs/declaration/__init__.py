"""Reading the declaration: aiplugs.toml, the environment and plugin manifests."""

"""Configuration: DRfC-compatible env files read into one frozen, typed object."""

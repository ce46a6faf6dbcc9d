"""outscale-cli: query Mistral models on Outscale (or any Mistral API) from a shell."""

__version__ = "0.1.0"

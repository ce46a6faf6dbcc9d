"""The stand-in deployment: a Mistral-compatible server for tests, demos and --mock."""

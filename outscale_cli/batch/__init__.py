"""Batches: files of requests, run here against deployments (`batch run`), in Mistral's batch
file format.

    reader.py   the input: Mistral's lines, OpenAI's, a short form, plain text lines; checked
                whole before anything is sent, read as it goes (never whole in memory)
    output.py   the records written: Mistral's batch output format or --answers; --resume
    engine.py   sending: concurrency, rate, retries, deployments, order, signals
    progress.py the progress bar on a terminal, the summary line otherwise
"""

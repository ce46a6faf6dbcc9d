"""Reference: a minimal batch on threads sharing one sync httpx.Client: COUNT chat requests,
CONCURRENCY threads, one JSON line per answer on stdout. Usage: URL MODEL COUNT CONCURRENCY"""

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

url, model, count, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lock = threading.Lock()
limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
with httpx.Client(limits=limits, timeout=120) as client:

    def one(i: int) -> None:
        body = {"model": model, "messages": [{"role": "user", "content": f"prompt {i}"}]}
        response = client.post(f"{url}/v1/chat/completions", json=body)
        line = json.dumps({"custom_id": str(i), "body": response.json()}) + "\n"
        with lock:
            sys.stdout.write(line)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))

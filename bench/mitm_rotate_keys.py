"""mitmproxy addon for scripts/bench.sh: the side-by-side row ("mitmproxy + a key-rotation addon").

Does what a minimal key proxy built on mitmproxy does: for requests to openrouter.ai, swap the
client's Authorization for the next pool key (round robin); on a 429 answer, move on to the next
key and replay the request once. Keys come from ORP_BENCH_KEYS (comma-separated).

    mitmdump -s bench/mitm_rotate_keys.py --listen-host 127.0.0.1 --listen-port P ...
"""

import itertools
import os

from mitmproxy import http

KEYS = [k for k in os.environ.get("ORP_BENCH_KEYS", "sk-or-v1-bench-pool-a").split(",") if k]
_next_key = itertools.cycle(KEYS)
HOST = "openrouter.ai"


def _is_target(flow: http.HTTPFlow) -> bool:
    return flow.request.pretty_host == HOST or flow.request.host_header == HOST


def request(flow: http.HTTPFlow) -> None:
    if _is_target(flow):
        flow.request.headers["Authorization"] = "Bearer " + next(_next_key)


def response(flow: http.HTTPFlow) -> None:
    if not _is_target(flow) or flow.response is None or flow.response.status_code != 429:
        return
    if flow.metadata.get("orp_bench_retried"):
        return
    # One retry with the next key, without back-off (what the proxy under test does too).
    flow.metadata["orp_bench_retried"] = True
    retry = flow.copy()
    retry.request.headers["Authorization"] = "Bearer " + next(_next_key)
    from mitmproxy import ctx

    ctx.master.commands.call("replay.client", [retry])

"""Run the sandbox for the demo: `python -m tools.sandbox [--port N]`.

Prints its base URL, then the settings (URLs and test credentials) as JSON, and
serves until interrupted. Control API: GET /_sandbox/status, GET /_sandbox/requests,
POST /_sandbox/reset, POST /_sandbox/faults {"status": 429, "count": 1, "retry_after": 1, "service": "statuspage"}.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .server import Sandbox


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--specs-dir", default=None, help="default: $MRE_SPECS_DIR or ../shared/specs")
    parser.add_argument("--settings-file", default=None, help="also write the settings JSON to this file")
    parser.add_argument("--credentials", default=None,
                        help="JSON file fixing the test credentials (keys: pd_routing_key, pd_api_token, pd_user_email, "
                             "pd_service_id, pd_drill_routing_key, pd_drill_service_id, sp_api_key, sp_page_id, slack_path); "
                             "random ones otherwise")
    args = parser.parse_args(argv)
    credentials = None
    if args.credentials:
        with open(args.credentials, encoding="utf-8") as handle:
            credentials = json.load(handle)
    sandbox = Sandbox(host=args.host, port=args.port, specs_dir=args.specs_dir, credentials=credentials).start()
    status = sandbox.status()
    print(sandbox.base_url, flush=True)
    settings = dict(sandbox.settings(), validation=status["validation"], skipped_reason=status["skipped_reason"])
    print(json.dumps(settings, indent=2), flush=True)
    if args.settings_file:
        with open(args.settings_file, "w", encoding="utf-8") as handle:
            json.dump(settings, handle, indent=2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

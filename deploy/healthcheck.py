"""Container health check: exit 0 while GET /readyz on this container's proxy port answers 200.

Standard library only, so it runs in the image without anything more installed; the port follows
CONSENTRY_PORT as `consentry serve` does.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = int(os.environ.get("CONSENTRY_PORT") or 8080)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
            return 0 if reply.status == 200 else 1
    except (OSError, urllib.error.URLError):
        # 503 (not ready, draining) arrives as HTTPError, a URLError; a closed port as OSError.
        return 1


if __name__ == "__main__":
    sys.exit(main())

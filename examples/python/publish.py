#!/usr/bin/env python3
"""Publish an update to a Herald hub using only Python's standard library.

This is the replacement for the classic status-line tutorial's global
queue: instead of `q.put("idle")` feeding one generator, the backend POSTs
the update to Herald, and every browser tab subscribed to the topic gets
it, in order, even across reconnects.

Usage:
    HERALD_TOKEN=<publisher JWT> python3 publish.py TOPIC DATA [--hub URL] [--type TYPE] [--private]

Prints the id Herald assigned to the update.
"""

import argparse
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def publish(hub, token, topic, data, event_type=None, private=False, timeout=10):
    """POST one update to the hub and return its id."""
    fields = [("topic", topic), ("data", data)]
    if event_type:
        fields.append(("type", event_type))
    if private:
        fields.append(("private", "on"))
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(
        hub.rstrip("/") + "/.well-known/mercure",
        data=body,
        method="POST",
        headers={
            "Authorization": "Bearer " + token,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode()


def main():
    parser = argparse.ArgumentParser(description="Publish an update to a Herald hub.")
    parser.add_argument("topic")
    parser.add_argument("data")
    parser.add_argument("--hub", default=os.environ.get("HERALD_HUB", "http://127.0.0.1:8080"))
    parser.add_argument("--type", dest="event_type")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args()
    token = os.environ.get("HERALD_TOKEN")
    if not token:
        sys.exit("publish.py: set HERALD_TOKEN to a publisher token (herald token --publish '*')")
    try:
        print(publish(args.hub, token, args.topic, args.data, args.event_type, args.private))
    except urllib.error.HTTPError as err:
        sys.exit("publish.py: hub answered %d: %s" % (err.code, err.read().decode().strip()))
    except urllib.error.URLError as err:
        sys.exit("publish.py: cannot reach the hub at %s: %s" % (args.hub, err.reason))


if __name__ == "__main__":
    main()

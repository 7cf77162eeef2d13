"""Media address refusals child: ``media_address_refusals.py TESTS_DIR``.

A plain audit hook records every socket.connect and getaddrinfo (and stops any connect
off loopback) while a media Fetcher, whose stub resolver (from TESTS_DIR/_support)
answers one forbidden address per name, fetches URLs for every forbidden range and
spelling.  Prints each URL's outcome, the socket events seen and the names resolved.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory
sys.path.insert(0, sys.argv[1])
from _support.media_origin import StubResolver  # noqa: E402
from sdk_guard.media import Fetcher, MediaError  # noqa: E402

events = []
def hook(ev, args):
    if ev in ("socket.connect", "socket.getaddrinfo"):
        events.append(ev)
    if ev == "socket.connect" and not str(args[1][0]).startswith("127."):
        raise RuntimeError(f"connect to {args[1]!r} stopped by the test")
sys.addaudithook(hook)
answers = ["127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.5.4", "192.168.1.1",
           "169.254.169.254", "100.64.0.1", "224.0.0.251", "240.0.0.1",
           "255.255.255.255", "0.0.0.0", "192.0.2.10", "198.51.100.1",
           "203.0.113.5", "198.18.0.1", "::1", "::", "fe80::1", "fc00::1",
           "fd00:ec2::254", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
           "::127.0.0.1", "2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
           "64:ff9b::a9fe:a9fe", "2001:db8::1", "fec0::1"]
resolver = StubResolver({f"h{i}.test": [a] for i, a in enumerate(answers)})
# A public and a private answer together: refused whole (the public address
# is never contacted either).
resolver.table["mixed.test"] = [["93.184.216.34", "10.0.0.1"]]
resolver.table["mixed6.test"] = [["2606:2800:220:1::1", "fd00::1"]]
f = Fetcher({}, resolver=resolver)
results = []
urls = [f"http://h{i}.test/a.png" for i in range(len(answers))] + [
    "http://127.0.0.1/", "http://[::1]:8080/", "http://169.254.169.254/latest/",
    "http://[::ffff:7f00:1]/", "http://2130706433/", "http://0x7f.1/",
    "http://0177.0.0.1/", "http://127.1/", "http://[fe80::1%25lo]/",
    "https://[64:ff9b::7f00:1]/", "http://localhost.:80/", "http://mixed.test/",
    "https://mixed6.test/"]
resolver.table["localhost."] = [["127.0.0.1"]]
for url in urls:
    try:
        f.fetch(url)
        results.append([url, "fetched"])
    except MediaError as e:
        results.append([url, e.reason, e.status])
print(json.dumps({"results": results, "events": events,
                   "resolved": resolver.calls}))

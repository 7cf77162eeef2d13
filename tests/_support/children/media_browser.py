"""Media proxy in a real browser child: ``media_browser.py ROOT CHROMIUM``.

Serves a PNG from a loopback origin, the example host page (examples/media_host.py)
that shows it through the media proxy, and loads that page in headless CHROMIUM.
Prints the DOM Chromium rendered, its exit status and stderr tail, the requests the
origin received, the image URL and the page's Content-Security-Policy.
"""
import json
import subprocess
import sys
import tempfile

sys.path[0] = ""  # what `python -c` puts there: the working directory
sys.path[:0] = [sys.argv[1] + "/tests", sys.argv[1] + "/examples"]
import media_host  # noqa: E402

from _support.media_origin import AsgiServer, Origin, png  # noqa: E402

origin = Origin("127.0.0.1")
origin.serve("/cat.png", png(37, 23, (200, 30, 60)), "image/png")
image = origin.url("/cat.png")
app = media_host.build_app(image, allow_internal=[origin.hostport])
host = AsgiServer(app)
with tempfile.TemporaryDirectory() as profile:
    proc = subprocess.run(
        [sys.argv[2], "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-default-apps", "--disable-sync", "--no-first-run",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom",
         host.base + "/"],
        capture_output=True, text=True, timeout=120)
page = __import__("_support.media_origin", fromlist=["get"]).get(host.base + "/")
host.close()
origin.close()
print(json.dumps({"dom": proc.stdout, "rc": proc.returncode, "stderr": proc.stderr[-2000:],
                  "origin": origin.requests, "image": image, "page_csp":
                  page[1].get("content-security-policy", "")}))

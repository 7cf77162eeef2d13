"""A well-behaved extension: uses hostapp.sdk, reads its own data directory, json."""
import json
import os

import hostapp.sdk as sdk

NAME = "good_ext"


def load_settings():
    """Read settings.json from this extension's data directory."""
    with open(os.path.join(sdk.data_dir(NAME), "settings.json"), encoding="utf-8") as f:
        return json.load(f)


def fetch_quote():
    """Ask the host's gateway (the SDK) for data instead of opening a socket."""
    return sdk.fetch("https://api.example.com/quote")["quote"]


def store_summary():
    """Persist a result through the SDK's storage (the host writes it)."""
    settings = load_settings()
    sdk.put(NAME, "summary", {"greeting": settings["greeting"], "quote": fetch_quote()})
    return sdk.get(NAME, "summary")


def write_report():
    """Write into the one directory the policy lets this extension write."""
    out = os.path.join(sdk.data_dir(NAME), "out")
    path = os.path.join(out, "report.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"ok": True, "items": len(load_settings())}, f)
    return path

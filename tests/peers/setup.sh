#!/usr/bin/env bash
# Independent PyPI clients the chat-source tests check the fake servers against,
# each in its own venv under .venv-peers/ (they pin library versions the
# project's own venv must not be forced to share). Idempotent: a venv is
# rebuilt only when its requirement line changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3.11}"
PEERS="${ISHOWTTS_PEERS:-.venv-peers}"

peer() {  # name, pip requirement(s)
    local name="$1"; shift
    local dir="$PEERS/$name" want="$*"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.requirement" 2>/dev/null)" = "$want" ]; then
        return
    fi
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
    echo "$want" > "$dir/.requirement"
}

peer twitch "twitchAPI==4.5.0"
peer youtube "chat-downloader==0.2.8"
peer bilibili "blivedm==0.1.1"

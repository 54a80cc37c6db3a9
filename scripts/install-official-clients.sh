#!/usr/bin/env bash
# Installs the official clients that Hangar must stay wire-compatible with, each in its
# own virtual environment, so tests can drive a live Hangar server with them.
#   usage: install-official-clients.sh [DEST]      (default DEST: ./.official-clients)
# After it: DEST/bai/bin/backend.ai  (Backend.AI client SDK + CLI 22.3.2, API v6.20220315)
#           DEST/clearml/bin/python  (ClearML SDK; import clearml)
# Kept in step with the workspace's shared/tools/install-official-clients.sh (same pins), which
# scripts/test prefers when it exists; this copy serves clean checkouts such as CI's.
set -euo pipefail
dest=${1:-.official-clients}
py=${PYTHON:-python3}
mkdir -p "$dest"

if [ ! -x "$dest/bai/bin/backend.ai" ]; then
  "$py" -m venv "$dest/bai"
  # 22.3.2 pins PyYAML~=5.4.1, which no longer builds on Python 3.11; PyYAML 6 works.
  "$dest/bai/bin/pip" install -q "PyYAML>=6"
  "$dest/bai/bin/pip" install -q --no-deps backend.ai-client==22.3.2 backend.ai-cli==0.6.0
  # yarl 1.9+ changed URL internals that 22.3.2's request signing reads; keep it below 1.9.
  "$dest/bai/bin/pip" install -q "aiohttp~=3.8.0" aiotusclient appdirs async-timeout attrs click \
      colorama humanize janus multidict python-dateutil "rich~=12.2" tabulate tqdm "yarl<1.9"
fi

if [ ! -x "$dest/clearml/bin/python" ] || ! "$dest/clearml/bin/python" -c 'import clearml' 2>/dev/null; then
  "$py" -m venv "$dest/clearml"
  "$dest/clearml/bin/pip" install -q "clearml==2.1.12"
fi
echo "official clients ready under $dest"

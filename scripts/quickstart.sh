#!/usr/bin/env bash
# Quick start: install what is missing (Debian packages, npm dependencies, the build), then run the main
# job end to end: init → create → build --snapshot → up (restore) → HTTP → down → push → delete → pull →
# verify → up (restore from the pulled snapshot) → down. Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then npm ci --no-audit --no-fund; fi
npm run build --silent
node dist/scripts/quickstart-steps.js

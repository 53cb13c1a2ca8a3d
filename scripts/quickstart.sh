#!/usr/bin/env bash
# Quick start: install what is missing, build mvmctl, then run the main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
npm run build >/dev/null
node dist/src/cli/main.js --version

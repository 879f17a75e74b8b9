#!/bin/sh
# Installs PyMISP VERSION into the virtual environment DIR, once: its dependencies (requests,
# python-dateutil, deprecated) come from Debian's packages (scripts/install-deps.sh) through
# --system-site-packages. Without a reachable package index it says so and exits 0: the test that
# needs PyMISP then reports itself skipped.
set -u
dir=$1
version=$2
if [ -x "$dir/bin/python3" ] && "$dir/bin/python3" -c "import importlib.metadata as m, sys; sys.exit(m.version('pymisp') != '$version')" 2>/dev/null; then
  echo "PyMISP $version already in $dir"
  exit 0
fi
python3 -m venv --system-site-packages "$dir" || { echo "cannot create a virtual environment in $dir"; exit 0; }
if "$dir/bin/pip" install --quiet --disable-pip-version-check --retries 0 --timeout 10 --no-deps "pymisp==$version"; then
  echo "PyMISP $version installed in $dir"
else
  echo "PyMISP $version could not be installed (no package index reachable?): the PyMISP validation will be skipped"
fi
exit 0

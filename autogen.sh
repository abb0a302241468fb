#!/bin/sh
# Generates configure and the Makefile templates from configure.ac and
# Makefile.am; run once after a fresh checkout.
set -eu
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force

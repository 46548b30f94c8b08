#!/bin/sh
# Copy the browser builds pinned in package.json from node_modules into static/vendor/.
#
# Usage: npm ci && sh scripts/vendor.sh   (or: npm run vendor)
# To update, change the exact version in package.json, run `npm install`, then this script,
# and commit package.json, package-lock.json and static/vendor/ together.
set -eu

cd "$(dirname "$0")/.."
modules=node_modules
vendor=static/vendor

version_of() {
    node -p "require('./$modules/$1/package.json').version"
}

if [ ! -d "$modules/openseadragon" ] || [ ! -d "$modules/bootstrap" ] \
    || [ ! -d "$modules/polygon-clipping" ]; then
    echo "node_modules is incomplete: run 'npm ci' first." >&2
    exit 1
fi

osd_version=$(version_of openseadragon)
rm -rf "$vendor/openseadragon"
mkdir -p "$vendor/openseadragon"
# Source maps ride along: the builds name them, and manifest storage's collectstatic fails on a
# missing file. Keeping the builds byte-identical to npm lets anyone verify them.
cp "$modules/openseadragon/build/openseadragon/openseadragon.min.js" \
    "$modules/openseadragon/build/openseadragon/openseadragon.min.js.map" "$vendor/openseadragon/"
cp -R "$modules/openseadragon/build/openseadragon/images" "$vendor/openseadragon/images"
cp "$modules/openseadragon/LICENSE.txt" "$vendor/openseadragon/LICENSE.txt"
cat > "$vendor/openseadragon/VERSION" <<END
OpenSeadragon $osd_version
Source: npm package openseadragon@$osd_version (build/openseadragon/), https://openseadragon.github.io/
Licence: BSD-3-Clause (LICENSE.txt). Copied by scripts/vendor.sh; do not edit by hand.
END

bootstrap_version=$(version_of bootstrap)
rm -rf "$vendor/bootstrap"
mkdir -p "$vendor/bootstrap"
cp "$modules/bootstrap/dist/css/bootstrap.min.css" "$modules/bootstrap/dist/css/bootstrap.min.css.map" \
    "$modules/bootstrap/dist/js/bootstrap.bundle.min.js" \
    "$modules/bootstrap/dist/js/bootstrap.bundle.min.js.map" "$vendor/bootstrap/"
cp "$modules/bootstrap/LICENSE" "$vendor/bootstrap/LICENSE"
cat > "$vendor/bootstrap/VERSION" <<END
Bootstrap $bootstrap_version
Source: npm package bootstrap@$bootstrap_version (dist/css/bootstrap.min.css,
dist/js/bootstrap.bundle.min.js, which includes Popper), https://getbootstrap.com/
Licence: MIT (LICENSE). Copied by scripts/vendor.sh; do not edit by hand.
END

clipping_version=$(version_of polygon-clipping)
rm -rf "$vendor/polygon-clipping"
mkdir -p "$vendor/polygon-clipping"
# The UMD build bundles its two dependencies (splaytree, robust-predicates) and defines the
# global polygonClipping, so it runs from a plain <script> without a bundler.
cp "$modules/polygon-clipping/dist/polygon-clipping.umd.min.js" \
    "$modules/polygon-clipping/dist/polygon-clipping.umd.min.js.map" "$vendor/polygon-clipping/"
cp "$modules/polygon-clipping/LICENSE.md" "$vendor/polygon-clipping/LICENSE.md"
cat > "$vendor/polygon-clipping/VERSION" <<END
polygon-clipping $clipping_version
Source: npm package polygon-clipping@$clipping_version (dist/polygon-clipping.umd.min.js, which
includes splaytree and robust-predicates), https://github.com/mfogel/polygon-clipping
Licence: MIT (LICENSE.md). Copied by scripts/vendor.sh; do not edit by hand.
END

echo "Vendored OpenSeadragon $osd_version, Bootstrap $bootstrap_version and polygon-clipping" \
    "$clipping_version into $vendor/."

#!/usr/bin/env bash
# Regenerates assets/graphiql/ — the GraphiQL that saaskit serves at /graphiql — from the npm
# release pinned in scripts/graphiql-assets/package.json and package-lock.json.
#
# To move to another release: edit the versions in package.json, run
# `npm install --package-lock-only --ignore-scripts` in scripts/graphiql-assets/, then this
# script, and commit package.json, package-lock.json and assets/graphiql/ together.
# GraphiQL 3.x is the last line that ships a UMD bundle (4.x and later are ES modules only);
# it needs React 18's UMD builds (React 19 ships none).
set -euo pipefail
cd "$(dirname "$0")/graphiql-assets"

npm ci --ignore-scripts --no-audit --no-fund
out=../../assets/graphiql
rm -rf "$out/vendor"
mkdir -p "$out/vendor"

# The bundles, without their source-map comments (the maps are not served).
strip_map() { sed -e 's|//# sourceMappingURL=.*$||' -e 's|/\*# sourceMappingURL=.*\*/||' "$1" > "$2"; }
strip_map node_modules/react/umd/react.production.min.js "$out/vendor/react.production.min.js"
strip_map node_modules/react-dom/umd/react-dom.production.min.js "$out/vendor/react-dom.production.min.js"
strip_map node_modules/graphiql/graphiql.min.js "$out/vendor/graphiql.min.js"
strip_map node_modules/graphiql/graphiql.min.css "$out/vendor/graphiql.min.css"

# Licences: the three packages served by name, and every package bundled into them.
for pkg in graphiql react react-dom; do
    cp "node_modules/$pkg/LICENSE" "$out/vendor/LICENSE.$pkg"
done
{
    echo "Licences of the npm packages installed for saaskit's GraphiQL bundle"
    echo "(scripts/graphiql-assets/package-lock.json); graphiql.min.js bundles the ones it uses."
    for dir in $(find node_modules -name package.json -not -path '*/node_modules/*/node_modules/*/node_modules/*' -printf '%h\n' | sort -u); do
        licence=$(find "$dir" -maxdepth 1 -iname 'licen[cs]e*' | head -n 1)
        [ -n "$licence" ] || continue
        name=$(node -p "require('./$dir/package.json').name + '@' + require('./$dir/package.json').version" 2>/dev/null) || continue
        [ "$name" != "undefined@undefined" ] || continue
        printf '\n==== %s ====\n\n' "$name"
        cat "$licence"
    done
} > "$out/vendor/THIRD-PARTY-LICENSES.txt"

node -e '
const lock = require("./package-lock.json").packages;
const v = (p) => lock["node_modules/" + p].version;
console.log(`graphiql ${v("graphiql")}, react ${v("react")}, react-dom ${v("react-dom")}`);
' > "$out/vendor/VERSIONS"
ls -l "$out/vendor"

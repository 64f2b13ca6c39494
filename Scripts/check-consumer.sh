#!/usr/bin/env bash
# Builds Examples/Consumer as a user's package would: depending on this repository by a versioned URL
# (`.package(url:, from: "0.1.0")`), in release mode, then runs it. The repository's committed HEAD is
# cloned into a scratch folder and tagged 0.1.0 there, so this checks exactly what a user would fetch.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git clone --quiet "$repo" "$scratch/abliterate"
git -C "$scratch/abliterate" -c user.name=check -c user.email=check@localhost tag 0.1.0
mkdir -p "$scratch/consumer"
cp -R "$repo/Examples/Consumer/Sources" "$scratch/consumer/"
cat > "$scratch/consumer/Package.swift" <<MANIFEST
// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "consumer",
    dependencies: [.package(url: "file://$scratch/abliterate", from: "0.1.0")],
    targets: [
        .executableTarget(
            name: "consumer",
            dependencies: [
                .product(name: "AbliterationCore", package: "abliterate"),
                .product(name: "TensorKit", package: "abliterate"),
            ]),
    ]
)
MANIFEST
cd "$scratch/consumer"
swift build -c release 2>&1 | tail -n 3
.build/release/consumer

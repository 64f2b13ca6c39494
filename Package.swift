// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "abliterate",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "TensorKit", targets: ["TensorKit"]),
        .library(name: "AbliterationCore", targets: ["AbliterationCore"]),
        .executable(name: "abliterate", targets: ["abliterate-cli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CLAPACKE", path: "Sources/CLAPACKE", pkgConfig: "lapacke",
            providers: [.apt(["liblapacke-dev"])]),
        .target(
            name: "TensorKit", dependencies: ["CBLAS", "CLAPACKE"]),
        .target(
            name: "AbliterationCore", dependencies: ["TensorKit"],
            resources: [.copy("Prompts/Resources")]),
        .executableTarget(
            name: "abliterate-cli",
            dependencies: [
                "AbliterationCore", "TensorKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "TensorKitTests", dependencies: ["TensorKit", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "CoreMathTests", dependencies: ["AbliterationCore", "TensorKit", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizerTests", dependencies: ["AbliterationCore", "TensorKit", "TestSupport"]),
        .testTarget(name: "ModelRuntimeTests", dependencies: ["AbliterationCore", "TensorKit", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["AbliterationCore", "TensorKit", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)

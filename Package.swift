// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "abliterate",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "TensorKit", targets: ["TensorKit"]),
        .library(name: "AbliterationCore", targets: ["AbliterationCore"]),
        .library(name: "Jinja", targets: ["Jinja"]),
        .library(name: "LanguageModels", targets: ["LanguageModels"]),
        .library(name: "AbliterationPipeline", targets: ["AbliterationPipeline"]),
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
        // AVX2 dot-product kernels for decoding, chosen at run time (TensorKit's `NativeDot`).
        .target(name: "CDotKernels"),
        // Threads that stay awake between the short parallel loops of a decoding step (`WorkerPool`).
        .target(name: "CWorkerPool"),
        .target(
            name: "TensorKit", dependencies: ["CBLAS", "CLAPACKE", "CDotKernels", "CWorkerPool"]),
        // The method only: statistics, directions, the orthogonalizer, plans, the measurements file.
        .target(name: "AbliterationCore", dependencies: ["TensorKit"]),
        // The chat-template engine.
        .target(name: "Jinja"),
        // Checkpoint loading, architectures, forward pass, generation, tokenizers, chat templates.
        .target(name: "LanguageModels", dependencies: ["TensorKit", "Jinja"]),
        // Sessions, prompt sets, measurement and evaluation drivers, plan search, export, run report.
        .target(
            name: "AbliterationPipeline", dependencies: ["AbliterationCore", "LanguageModels", "TensorKit"],
            resources: [.copy("Prompts/Resources")]),
        .executableTarget(
            name: "abliterate-cli",
            dependencies: [
                "AbliterationPipeline", "AbliterationCore", "LanguageModels", "TensorKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "TensorKitTests", dependencies: ["TensorKit", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "CoreMathTests", dependencies: ["AbliterationCore", "TensorKit", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizerTests", dependencies: ["LanguageModels", "Jinja", "TensorKit", "TestSupport"]),
        .testTarget(name: "ModelRuntimeTests", dependencies: ["LanguageModels", "TensorKit", "TestSupport"]),
        .testTarget(
            name: "PipelineTests",
            dependencies: ["AbliterationPipeline", "AbliterationCore", "LanguageModels", "TensorKit", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)

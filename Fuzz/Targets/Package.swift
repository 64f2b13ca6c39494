// swift-tools-version:6.0
// libFuzzer targets for the readers of untrusted input. A package of its own so the root manifest
// stays free of unsafe flags; build it with the sanitizers on the command line (they then apply to
// the library modules too), e.g. from the repository root:
//   swift build --package-path Fuzz/Targets -c debug -Xswiftc -O --sanitize=fuzzer --sanitize=address
// `make fuzz` does that and runs every target (Docs/reliability.md).
import PackageDescription

let fuzzers = [
    "gguf", "safetensors", "safetensors_index", "tokenizer_json", "tokenizer_config",
    "chat_template", "prompt_file", "plan", "adapter_config", "adapter_tensors", "measurements",
]

/// The library modules the targets read through (every module that parses untrusted input).
let libraries: [Target.Dependency] = ["TensorKit", "Jinja", "LanguageModels", "AbliterationCore", "AbliterationPipeline"]
    .map { .product(name: $0, package: "abliterate") }

let package = Package(
    name: "abliterate-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "abliterate", path: "../..")],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: libraries),
    ] + fuzzers.map { name in
        // One executable per fuzzer: LLVMFuzzerTestOneInput in `<name>.swift`, libFuzzer's main.
        .executableTarget(
            name: "fuzz-\(name)",
            dependencies: ["FuzzSupport"] + libraries,
            path: "Sources/fuzz-\(name)",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    },
    swiftLanguageModes: [.v5]
)

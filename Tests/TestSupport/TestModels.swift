import Foundation
import XCTest

/// Where the tests find the real models and the shared fixtures.
///
/// Models live outside the repository (`Scripts/fetch-models.sh` puts them in
/// `$ABLITERATE_MODELS`, default `~/.cache/abliterate/models`). `make test` sets
/// `ABLITERATE_REQUIRE_MODELS=1`, which turns a missing model into a failure instead of a skip.
public enum TestModels {
    public static var directory: URL {
        if let env = ProcessInfo.processInfo.environment["ABLITERATE_MODELS"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return FileManager.default.homeDirectoryForCurrentUser
            .appendingPathComponent(".cache/abliterate/models")
    }

    /// SmolLM2-135M-Instruct, Q4_1 GGUF (llama architecture).
    public static func smolLM2() throws -> String { try model("SmolLM2-135M-Instruct.Q4_1.gguf") }
    /// Gemma 3 270M base, Q4_K_M GGUF (gemma3 architecture).
    public static func gemma3() throws -> String { try model("gemma-3-270m-q4_k_m.gguf") }

    public static func model(_ file: String) throws -> String {
        let path = directory.appendingPathComponent(file).path
        if FileManager.default.fileExists(atPath: path) { return path }
        let message = "model \(file) not found in \(directory.path); run Scripts/fetch-models.sh"
        if ProcessInfo.processInfo.environment["ABLITERATE_REQUIRE_MODELS"] == "1" {
            XCTFail(message)
            throw XCTSkip(message)
        }
        throw XCTSkip(message)
    }
}

/// Files under `Tests/Fixtures` and elsewhere in the repository.
public enum Fixtures {
    /// The repository root (this file is Tests/TestSupport/TestModels.swift).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures/reference/NAME`: Hugging Face transformers' reference outputs.
    public static func reference(_ name: String) -> URL {
        repositoryRoot.appendingPathComponent("Tests/Fixtures/reference").appendingPathComponent(name)
    }

    /// Parsed JSON of a reference file.
    public static func referenceJSON(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: reference(name)))
    }

    /// `Tests/Fixtures/NAME`: a checkpoint committed with the tests (`gemma3-multimodal-tiny`, written by
    /// `Scripts/make-gemma3-multimodal-fixture.py`).
    public static func checkpoint(_ name: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/Fixtures").appendingPathComponent(name).path
    }

    /// The refusal organism adapter shipped in the repository.
    public static var refusalAdapter: URL {
        repositoryRoot.appendingPathComponent("Organisms/refusal-lora-a")
    }

    /// The Gemma 3 270M refusal organism adapter shipped in the repository.
    public static var gemmaRefusalAdapter: URL {
        repositoryRoot.appendingPathComponent("Organisms/gemma3-refusal-lora-a")
    }
}

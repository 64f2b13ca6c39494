import Foundation
import AbliterationCore
import LanguageModels

/// Which class of prompts: requests a safety-trained model refuses, or ordinary requests.
public enum PromptKind: String, CaseIterable, Sendable {
    case harmful
    case harmless
}

/// Which part of a built-in set. `train` feeds the refusal-direction measurement, `test` the evaluation;
/// the two are disjoint. `all` is train followed by test.
public enum PromptSplit: String, CaseIterable, Sendable {
    case train
    case test
    case all
}

/// The prompt sets shipped with the library (see `Prompts/Resources/README.md` for how they were written
/// and split). Files are `<kind>_<split>.txt`, one prompt per line.
public enum PromptSet {
    /// The built-in prompts of one kind and split, in file order.
    public static func builtIn(_ kind: PromptKind, split: PromptSplit) throws -> [String] {
        switch split {
        case .train, .test:
            return try resourceLines(name: "\(kind.rawValue)_\(split.rawValue)")
        case .all:
            return try builtIn(kind, split: .train) + builtIn(kind, split: .test)
        }
    }

    /// The lines of a bundled `.txt` resource, trimmed, empty lines skipped.
    static func resourceLines(name: String) throws -> [String] {
        try resourceText(name: name).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    /// The raw text of a bundled `<name>.txt` resource.
    static func resourceText(name: String) throws -> String {
        let file = "\(name).txt"
        guard let url = Bundle.module.url(forResource: name, withExtension: "txt", subdirectory: "Resources")
            ?? Bundle.module.url(forResource: name, withExtension: "txt")
        else {
            throw AbliterationError.invalidInput("built-in prompt set \(file): not found in the AbliterationCore bundle")
        }
        guard let data = try? Data(contentsOf: url), let text = String(data: data, encoding: .utf8) else {
            throw AbliterationError.invalidInput("built-in prompt set \(file): cannot be read as UTF-8")
        }
        return text
    }

    /// `count` prompts spread evenly over `prompts` (all of them when there are fewer), so a small
    /// sample of a list grouped by topic still covers every topic.
    public static func evenlySpaced(_ prompts: [String], count: Int) -> [String] {
        guard count < prompts.count else { return prompts }
        guard count > 0 else { return [] }
        return (0..<count).map { prompts[$0 * prompts.count / count] }
    }
}

import AbliterationCore
import AbliterationPipeline
import Foundation

/// Loads the prompts of `path`, or the built-in set of `kind` and `split` when nil, and says what it dropped.
func loadPrompts(_ path: String?, kind: PromptKind, split: PromptSplit, field: String?, limit: Int? = nil) throws -> [String] {
    try loadPromptList(path, kind: kind, split: split, field: field, limit: limit).prompts
}

/// `loadPrompts`, with where each prompt of a file is ("FILE: line N"; nil for a built-in set).
func loadPromptList(
    _ path: String?, kind: PromptKind, split: PromptSplit, field: String?, limit: Int? = nil
) throws -> (prompts: [String], origins: [String]?) {
    var prompts: [String]
    var origins: [String]?
    if let path {
        let result = try PromptFile.load(path: path, field: field)
        if result.droppedEmpty + result.droppedDuplicates > 0 {
            printError("\(path): dropped \(result.droppedEmpty) empty and \(result.droppedDuplicates) duplicate prompts")
        }
        prompts = result.prompts
        origins = result.origins
    } else {
        prompts = try PromptSet.builtIn(kind, split: split)
    }
    if let limit, limit < prompts.count {
        prompts = Array(prompts.prefix(limit))
        origins = origins.map { Array($0.prefix(limit)) }
    }
    return (prompts, origins)
}

import ArgumentParser

@main
struct Abliterate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "abliterate",
        abstract: "Remove refusal behaviour from open-weight language models by projected abliteration, and measure what it did.",
        discussion: """
            The main job:  abliterate run --model MODEL [--adapter DIR] --output DIR
            Step by step:  measure → analyze → ablate → eval
            """,
        version: "0.1.0",
        subcommands: [
            RunCommand.self, MeasureCommand.self, AnalyzeCommand.self, AblateCommand.self, EvalCommand.self,
            ConvertCommand.self, GenerateCommand.self, TokenizeCommand.self, InspectCommand.self, BenchCommand.self,
        ])
}

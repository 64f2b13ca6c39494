import ArgumentParser

@main
struct Abliterate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "abliterate",
        abstract: "Remove refusal behaviour from open-weight language models by projected abliteration, and measure what it did.",
        version: "0.1.0",
        subcommands: [InspectCommand.self, BenchCommand.self, GenerateCommand.self, RuntimeBenchCommand.self])
}

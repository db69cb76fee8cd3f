import ArgumentParser

struct MemoragCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memorag",
        abstract: "Train Activation Beacon memory models and answer questions over long inputs (MemoRAG).",
        subcommands: [GenerateCommand.self, ConvertCommand.self, TokenizerCommand.self, TrainCommand.self, RecipesCommand.self, ExportCommand.self, BenchCommand.self, EnvCommand.self]
    )
}

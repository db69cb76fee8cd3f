import ArgumentParser

struct MemoragCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memorag",
        abstract: "Train Activation Beacon memory models and answer questions over long inputs (MemoRAG).",
        subcommands: [MemorizeCommand.self, AskCommand.self, ServeCommand.self, EvalCommand.self, EvalCompressionCommand.self, GenerateCommand.self, ConvertCommand.self,
                      TokenizerCommand.self, DataCommand.self, TrainCommand.self, AdaptCommand.self, RecipesCommand.self, ExportCommand.self,
                      BenchCommand.self, EnvCommand.self]
    )
}
